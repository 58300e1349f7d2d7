package crossbar

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
)

// Broadcasts across a cluster, as archives (archivenode.go): a broadcast
// runs on the node that started it, and its record, written on the bus at
// each change of its status, lets every node list it and refuse a second
// broadcast of its session. Getting one that runs (its outputs' statuses
// change without its status) and changing it (stop, layout, streams) is
// done by its node, asked on its node topic by the node the host called.
// Its HLS playlist is served by its node's Handler. A broadcast of a node
// that left the cluster while it ran is failed.

// broadcastsSet is the bus's set of broadcast records, by broadcast id.
const broadcastsSet = "broadcasts"

// broadcastRecord is a broadcast as the nodes know it.
type broadcastRecord struct {
	Broadcast
	Node string
}

// broadcastOp is what is done to a broadcast, here or on its node: one of
// opGet, opStop, opLayout, opAddStream, opRemoveStream.
type broadcastOp struct {
	Op     string         `json:"op"`
	Stream *ArchiveStream `json:"stream,omitempty"`
	Layout *ArchiveLayout `json:"layout,omitempty"`
}

// opGet gets a broadcast as it is.
const opGet = "get"

// The kinds of node messages about broadcasts, on the receiving node's
// topic: a call (Call, ID: the broadcast, BroadcastOp) and its answer
// (Call, Broadcast or CallError).
const (
	kindBroadcastCall   = "broadcastCall"
	kindBroadcastAnswer = "broadcastAnswer"
)

// broadcastDo does op on the broadcast id: here if this node runs it, or
// on the node that does.
func (srv *Server) broadcastDo(ctx context.Context, id string, op broadcastOp) (Broadcast, error) {
	b, err := srv.broadcasting(id)
	if err == nil {
		return b.do(op)
	}
	if srv.bus == nil {
		return Broadcast{}, err
	}
	var r broadcastRecord
	if err := srv.readRecord(ctx, broadcastsSet, id, ErrBroadcastNotFound, &r); err != nil {
		return Broadcast{}, err
	}
	if c := srv.broadcastOf(r); c.Status != BroadcastStarted {
		if op.Op == opGet {
			return c, nil
		}
		return Broadcast{}, fmt.Errorf("%w: broadcast %s is %s", ErrBroadcastConflict, id, c.Status)
	}
	m, err := srv.nodeCall(ctx, r.Node, nodeMessage{Kind: kindBroadcastCall, ID: id, BroadcastOp: &op})
	if err != nil || m.Broadcast == nil {
		return Broadcast{}, err
	}
	return *m.Broadcast, nil
}

// do does op on a broadcast this server runs.
func (b *broadcasting) do(op broadcastOp) (Broadcast, error) {
	var err error
	switch {
	case op.Op == opGet:
		return b.snapshot(), nil
	case op.Op == opStop:
		return b.stop("")
	case op.Op == opLayout && op.Layout != nil:
		err = b.setLayout(*op.Layout)
	case op.Op == opAddStream && op.Stream != nil:
		err = b.addManual(*op.Stream)
	case op.Op == opRemoveStream && op.Stream != nil:
		if err = b.manualOnly(); err == nil {
			err = b.remove(op.Stream.StreamID)
		}
	default:
		err = fmt.Errorf("%w: broadcast operation %q", ErrBadRequest, op.Op)
	}
	return Broadcast{}, err
}

// broadcastOf is the broadcast a record describes now: one that ran on a
// node that left the cluster failed.
func (srv *Server) broadcastOf(r broadcastRecord) Broadcast {
	c := r.Broadcast
	if c.Status == BroadcastStarted && !srv.nodeAlive(r.Node) {
		c.Status, c.Reason = BroadcastFailed, "node "+r.Node+" left the cluster while it ran"
	}
	return c
}

// allBroadcasts returns this server's broadcasts and, in a cluster, the
// other nodes' as their records say, newest first.
func (srv *Server) allBroadcasts(ctx context.Context) ([]Broadcast, error) {
	srv.broadcasts.mu.Lock()
	local := slices.Clone(srv.broadcasts.list)
	srv.broadcasts.mu.Unlock()
	var all []Broadcast
	here := map[string]bool{}
	for _, b := range local {
		all = append(all, b.snapshot())
		here[b.id] = true
	}
	if srv.bus != nil {
		recs, err := srv.bus.Records(ctx, broadcastsSet)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrClusterUnavailable, err)
		}
		for id, raw := range recs {
			var r broadcastRecord
			if !here[id] && json.Unmarshal(raw, &r) == nil {
				all = append(all, srv.broadcastOf(r))
			}
		}
	}
	slices.SortStableFunc(all, func(a, b Broadcast) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(b.ID, a.ID))
	})
	return all, nil
}

// broadcastElsewhere returns ErrBroadcastConflict if another node runs a
// broadcast of the session that a new one tagged tag may not run beside.
func (srv *Server) broadcastElsewhere(ctx context.Context, sessionID, tag string) error {
	if srv.bus == nil {
		return nil
	}
	all, err := srv.allBroadcasts(ctx)
	if err != nil {
		return err
	}
	for _, c := range all {
		if c.Status == BroadcastStarted && c.SessionID == sessionID && tagsConflict(c.MultiBroadcastTag, tag) {
			if b, _ := srv.broadcasting(c.ID); b == nil {
				return fmt.Errorf("%w: session %s is being broadcast (broadcast %s, on another node)", ErrBroadcastConflict, sessionID, c.ID)
			}
		}
	}
	return nil
}

// broadcastMessage carries out a broadcast call of another node's.
func (srv *Server) broadcastMessage(m *nodeMessage) {
	if m.BroadcastOp == nil {
		return
	}
	go func() { // a stop waits for the outputs to end their streams
		answer := nodeMessage{Kind: kindBroadcastAnswer, Call: m.Call}
		var c Broadcast
		b, err := srv.broadcasting(m.ID) // here, or nowhere
		if err == nil {
			c, err = b.do(*m.BroadcastOp)
		}
		if err != nil {
			answer.CallError = callErrorOf(err)
		} else {
			answer.Broadcast = &c
		}
		srv.toNode(m.From, answer)
	}()
}
