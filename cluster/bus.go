// Package cluster joins Crossbar servers into one cluster. Each server is a
// node; nodes share sessions through a Bus: topics that carry messages
// between nodes, sets of records a node reads when it joins a session
// late, and membership by heartbeat. Redis is the Bus (NewRedis); the
// interface is what another backend would implement.
package cluster

import (
	"context"
	"errors"
	"time"
)

// Node is one member of a cluster.
type Node struct {
	ID string `json:"id"`
	// MediaAddr is where other nodes reach this node's media engine.
	MediaAddr string `json:"mediaAddr,omitempty"`
}

// Bus is a cluster's shared engine as one node uses it. Its methods are
// safe for concurrent use.
type Bus interface {
	// Node returns the node this Bus serves.
	Node() Node
	// Listen sets h to receive the bus's messages and membership
	// changes, one at a time. It must be called once, before Subscribe.
	Listen(h Handler)
	// Publish sends payload to every node subscribed to topic, this one
	// included. Nodes receive a topic's messages in one order, the
	// order the bus received them.
	Publish(ctx context.Context, topic string, payload []byte) error
	// Subscribe and Unsubscribe choose the topics whose messages reach
	// the Handler.
	Subscribe(ctx context.Context, topics ...string) error
	Unsubscribe(ctx context.Context, topics ...string) error

	// Put, Get, Delete and Records keep sets of records: what a node
	// reads when it comes to a topic late, or after the bus was lost.
	Put(ctx context.Context, set, key string, value []byte) error
	Get(ctx context.Context, set, key string) ([]byte, error) // ErrNotFound if absent
	Delete(ctx context.Context, set string, keys ...string) error
	Records(ctx context.Context, set string) (map[string][]byte, error)

	// Claim reports whether key was not claimed in the last ttl, by any
	// node, and claims it for ttl: of nodes that claim a key at once,
	// one gets true.
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)

	// Err returns nil while the bus can be reached, as the node's last
	// heartbeat found, and otherwise why not (wrapping ErrUnavailable).
	Err() error

	// Close stops the node's heartbeat and leaves the cluster.
	Close() error
}

// Handler receives what a Bus delivers, on one goroutine, in order.
type Handler interface {
	// Message delivers a message published on a subscribed topic.
	Message(topic string, payload []byte)
	// Members reports the nodes alive, whenever that set changes; a node
	// that stops heartbeating leaves it within the bus's node timeout.
	Members(alive map[string]Node)
	// Reconnected reports that the bus is back after it was lost:
	// messages may have been missed meanwhile, and records written by
	// others may have changed.
	Reconnected()
}

// ErrNotFound is returned by Get for a record that does not exist.
var ErrNotFound = errors.New("cluster: no such record")

// ErrUnavailable wraps the errors of a bus that cannot be reached.
var ErrUnavailable = errors.New("cluster: bus unavailable")
