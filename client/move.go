package client

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar/signaling"
)

// A client of a cluster follows its connection to another node: when the
// node it used dies or drains (a "move" message), it resumes through the
// same dialer, which the load balancer sends elsewhere, and the node there
// takes the connection over with its ids (signaling's PROTOCOL.md, "Moving
// to another node"). The client then reconciles its view of the session
// with the state that node sends, and makes new peer connections with it:
// it publishes its streams again under their ids and subscribes again.
// The old peer connections close once the new ones are up: while the old
// node lives (a drain) its media carries on meanwhile.

// codeDraining is the error code of a node that refuses clients while it
// drains: the client tries another.
const codeDraining = 1006

// oldMediaLinger is how long old peer connections outlive the new ones'
// connecting: the other nodes move their subscriptions to the new node
// meanwhile.
const oldMediaLinger = time.Second

// noteSignal keeps the highest number of each origin's signals. The
// caller holds s.mu.
func (s *Session) noteSignal(sig *signaling.Signal) {
	if sig == nil || sig.Origin == "" {
		return
	}
	if s.marks == nil {
		s.marks = map[string]uint64{}
	}
	s.marks[sig.Origin] = max(s.marks[sig.Origin], sig.N)
}

// reconcile brings the client's view of the session up to the state a node
// sent when the connection moved there, with the events of what changed:
// streams and connections gone (reason networkDisconnected) or new, and
// stream properties changed.
func (s *Session) reconcile(state *signaling.Message) {
	conns := map[string]signaling.Connection{}
	for _, c := range state.Connections {
		conns[c.ID] = c
	}
	streams := map[string]signaling.Stream{}
	for _, st := range state.Streams {
		streams[st.ID] = st
	}
	gone := string("networkDisconnected")
	var msgs []*signaling.Message
	s.mu.Lock()
	self, listens := s.self.ID, !s.opts.ConnectionEventsSuppressed
	for _, st := range sorted(s.streams) {
		if _, ok := streams[st.ID]; !ok {
			msgs = append(msgs, &signaling.Message{Type: signaling.TypeStreamDestroyed, Stream: &st, Reason: gone})
		}
	}
	for _, c := range sorted(s.connections) {
		if _, ok := conns[c.ID]; !ok && c.ID != self && listens {
			msgs = append(msgs, &signaling.Message{Type: signaling.TypeConnectionDestroyed, Connection: &c, Reason: gone})
		}
	}
	for _, c := range state.Connections {
		if _, ok := s.connections[c.ID]; !ok && c.ID != self && listens {
			msgs = append(msgs, &signaling.Message{Type: signaling.TypeConnectionCreated, Connection: &c})
		}
	}
	for _, st := range state.Streams {
		old, ok := s.streams[st.ID]
		if !ok {
			msgs = append(msgs, &signaling.Message{Type: signaling.TypeStreamCreated, Stream: &st})
			continue
		}
		msgs = append(msgs, propertyChanges(old, st)...)
	}
	if !listens { // no connection events: the view is the state's
		s.connections = conns
	}
	s.mu.Unlock()
	for _, m := range msgs {
		if ev, ok := s.apply(m); ok {
			s.emit(ev)
		}
		s.routeMedia(m)
	}
}

// sorted returns a map's values by key.
func sorted[V any](m map[string]V) []V {
	var list []V
	for _, k := range slices.Sorted(maps.Keys(m)) {
		list = append(list, m[k])
	}
	return list
}

// propertyChanges returns the streamPropertyChanged messages that take a
// stream from old to st.
func propertyChanges(old, st signaling.Stream) []*signaling.Message {
	var msgs []*signaling.Message
	change := func(property string, from, to any) {
		msgs = append(msgs, &signaling.Message{Type: signaling.TypeStreamPropertyChanged, Stream: &st,
			Change: &signaling.PropertyChange{Property: property, OldValue: from, NewValue: to}})
	}
	if old.HasAudio != st.HasAudio {
		change("hasAudio", old.HasAudio, st.HasAudio)
	}
	if old.HasVideo != st.HasVideo {
		change("hasVideo", old.HasVideo, st.HasVideo)
	}
	if d0, d := old.VideoDimensions, st.VideoDimensions; d != nil && (d0 == nil || *d0 != *d) {
		var from any
		if d0 != nil {
			from = *d0
		}
		change("videoDimensions", from, *d)
	}
	return msgs
}

// moveMedia makes new peer connections with the node the connection moved
// to: it publishes every stream again under its id and subscribes again to
// every stream, then closes the old peer connections.
func (s *Session) moveMedia() {
	if s.Relayed() {
		return // the peer connections are with the other clients
	}
	m := &s.media
	m.mu.Lock()
	old := []*webrtc.PeerConnection{m.pub, m.sub}
	m.pub, m.sub, m.pubTrickle, m.subTrickle, m.unanswered = nil, nil, nil, nil, nil
	pubs := slices.Collect(maps.Values(m.publishers))
	subs := slices.Collect(maps.Values(m.subscribers))
	m.mu.Unlock()
	for _, pc := range old {
		if pc != nil {
			pc.OnICEConnectionStateChange(func(webrtc.ICEConnectionState) {}) // no restarts, no events
		}
	}
	m.goTracked(func() {
		ctx, cancel := context.WithTimeout(context.Background(), negotiationTimeout)
		defer cancel()
		for _, p := range pubs {
			if err := s.negotiatePublish(ctx, p); err != nil {
				p.end("mediaStopped: " + err.Error())
			}
		}
		for _, sub := range subs {
			sub.mu.Lock()
			req := sub.req
			sub.mu.Unlock()
			if _, err := s.request(ctx, &req); err != nil {
				s.removeSubscriber(sub)
				sub.end(err)
			}
		}
		s.awaitNewMedia(ctx, len(pubs) > 0, len(subs) > 0)
		timer := time.NewTimer(oldMediaLinger)
		select {
		case <-timer.C:
		case <-s.done:
		}
		timer.Stop()
		for _, pc := range old {
			if pc != nil {
				_ = pc.Close()
			}
		}
	})
}

// awaitNewMedia waits until the new publisher and subscriber peer
// connections, those wanted, are connected, or ctx ends.
func (s *Session) awaitNewMedia(ctx context.Context, pub, sub bool) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	connected := func(pc *webrtc.PeerConnection, wanted bool) bool {
		return !wanted || (pc != nil && pc.ConnectionState() == webrtc.PeerConnectionStateConnected)
	}
	for {
		m := &s.media
		m.mu.Lock()
		up := connected(m.pub, pub) && connected(m.sub, sub)
		m.mu.Unlock()
		if up {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
