// Cluster serves the videochat room (examples/videochat) from a cluster of
// Crossbar nodes that share a Redis server, behind a round-robin load
// balancer, all on one machine. With redis-server installed,
//
//	go run ./examples/cluster
//
// starts redis-server on a free loopback port (or uses the one -redis
// names), three nodes (this program again, with -node) and the load
// balancer on -addr. Open http://127.0.0.1:8080/?room=demo in a few tabs:
// they land on different nodes, and see and hear each other. Ctrl-C stops
// it all.
//
// With -node the program is one node, which is how to run the cluster on
// several hosts: one node on each, every one with the same API secret in
// CROSSBAR_SECRET and the same Redis, behind a load balancer of your own
// that passes WebSocket upgrades on:
//
//	go build -o crossbar-node ./examples/cluster
//	CROSSBAR_SECRET=$secret ./crossbar-node -node n1 -addr :8080 -redis redis.internal:6379 -media :50000
//
// A node takes the other examples' deployment flags too (-public-ip,
// -ice-tcp, -turn, -tls-cert, -metrics...; see docs/deploy.md). Clients
// must reach every node's HTTP and media (-media) ports, and the nodes
// each other's node links, on ephemeral UDP ports (see README).
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/crossbar-rtc/crossbar/examples/internal/app"
)

// secretEnv is the environment variable that carries the API secret to a
// node: the same on every node, so that a token one node makes verifies on
// every other.
const secretEnv = "CROSSBAR_SECRET"

// options are the command line's.
type options struct {
	addr   string // where this process serves: the load balancer, or a node
	redis  string // the Redis address; empty: the launcher starts one
	nodes  int    // how many nodes the launcher starts
	node   string // this node's id: run as a node
	parent bool   // a node stops when its standard input closes
	// deploy: a node's media, TURN, TLS and metrics.
	deploy app.Deployment
}

func main() {
	var o options
	flag.StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to serve on: the load balancer's, or with -node the node's")
	flag.StringVar(&o.redis, "redis", "", "address of the Redis server the nodes share; without it, one is started on loopback (required with -node)")
	flag.IntVar(&o.nodes, "nodes", 3, "how many nodes to start")
	flag.StringVar(&o.node, "node", "", "run as the node of this id, unique in the cluster, with the API secret in $"+secretEnv)
	flag.BoolVar(&o.parent, "parent", false, "with -node: stop when standard input closes, as the launcher's nodes do when it ends")
	o.deploy.Flags(flag.CommandLine) // with -node
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if o.node != "" {
		logger = logger.With("node", o.node)
		err = runNode(ctx, logger, o)
	} else {
		err = launch(ctx, logger, o)
	}
	if err != nil {
		logger.Error("cluster", "err", err)
		stop()
		os.Exit(1)
	}
}
