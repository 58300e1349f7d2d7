package crossbar_test

import (
	"context"
	"testing"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// rawClient is a client speaking the protocol by hand, as a browser does.
type rawClient struct {
	t        *testing.T
	ws       signaling.Transport
	id       string
	mode     string // the session's media mode, from "connected"
	n        uint64
	received uint64 // messages read after "connected", for a resume
}

func rawJoin(t *testing.T, h *harness, s *crossbar.Session, role crossbar.Role) *rawClient {
	ws := dialRaw(t, h.ws)
	send(t, ws, &signaling.Message{Type: signaling.TypeConnect, ID: 1, Token: h.token(s, role, "")})
	m := read(t, ws)
	if m.Type != signaling.TypeConnected {
		t.Fatalf("connect: %+v", m)
	}
	return &rawClient{t: t, ws: ws, id: m.Connection.ID, mode: m.MediaMode, n: 1}
}

// request sends m and returns the reply, skipping events.
func (c *rawClient) request(m *signaling.Message) *signaling.Message {
	c.t.Helper()
	c.n++
	m.ID = c.n
	send(c.t, c.ws, m)
	for {
		r := c.read()
		if r.Re == m.ID {
			return r
		}
	}
}

// await returns the next message of type typ, skipping others.
func (c *rawClient) await(typ signaling.Type) *signaling.Message {
	c.t.Helper()
	for {
		if m := c.read(); m.Type == typ {
			return m
		}
	}
}

// read returns the next message.
func (c *rawClient) read() *signaling.Message {
	c.t.Helper()
	c.received++
	return read(c.t, c.ws)
}

func TestRelayedSessionCarriesNegotiationBetweenClients(t *testing.T) {
	h := newHarness(t, crossbar.Config{})
	s, err := h.srv.CreateSession(context.Background(), crossbar.SessionOptions{MediaMode: crossbar.Relayed})
	if err != nil {
		t.Fatal(err)
	}
	pub := rawJoin(t, h, s, crossbar.RolePublisher)
	sub := rawJoin(t, h, s, crossbar.RoleSubscriber)
	other := rawJoin(t, h, s, crossbar.RolePublisher)

	r := pub.request(&signaling.Message{Type: signaling.TypePublish, Stream: &signaling.Stream{Name: "cam", HasAudio: true, HasVideo: true}})
	if r.Type != signaling.TypeOK || r.StreamID == "" || r.SDP != "" {
		t.Fatalf("publish: %+v", r)
	}
	streamID := r.StreamID
	if m := sub.await(signaling.TypeStreamCreated); m.Stream.ID != streamID || m.Stream.VideoType != "camera" {
		t.Fatalf("streamCreated %+v", m.Stream)
	}
	if s.Streams()[0].Publisher() != nil {
		t.Fatal("a relayed stream has media on the server")
	}

	// Nobody may talk to the publisher about a stream they did not subscribe to.
	if r := other.request(&signaling.Message{Type: signaling.TypeRelay, ConnectionID: pub.id, StreamID: streamID, SDP: "v=0"}); r.Type != signaling.TypeError || r.Error.Code != 1011 {
		t.Fatalf("relay before subscribing: %+v", r)
	}
	if r := sub.request(&signaling.Message{Type: signaling.TypeSubscribe, StreamID: streamID}); r.Type != signaling.TypeOK {
		t.Fatalf("subscribe: %+v %+v", r, r.Error)
	}
	if m := pub.await(signaling.TypePeerSubscribed); m.ConnectionID != sub.id || m.StreamID != streamID {
		t.Fatalf("peerSubscribed %+v", m)
	}
	if r := pub.request(&signaling.Message{Type: signaling.TypeRelay, ConnectionID: sub.id, StreamID: streamID, SDP: "offer"}); r.Type != signaling.TypeOK {
		t.Fatalf("relay offer: %+v", r)
	}
	if m := sub.await(signaling.TypeRelay); m.ConnectionID != pub.id || m.SDP != "offer" {
		t.Fatalf("relayed offer %+v", m)
	}
	mid := "0"
	sub.request(&signaling.Message{Type: signaling.TypeRelay, ConnectionID: pub.id, StreamID: streamID, Candidate: &signaling.ICECandidate{Candidate: "candidate:1", SDPMid: &mid}})
	if m := pub.await(signaling.TypeRelay); m.ConnectionID != sub.id || m.Candidate == nil || m.Candidate.Candidate != "candidate:1" {
		t.Fatalf("relayed candidate %+v", m)
	}
	if r := sub.request(&signaling.Message{Type: signaling.TypeUnsubscribe, StreamID: streamID}); r.Type != signaling.TypeOK {
		t.Fatalf("unsubscribe: %+v", r)
	}
	if m := pub.await(signaling.TypePeerUnsubscribed); m.ConnectionID != sub.id {
		t.Fatalf("peerUnsubscribed %+v", m)
	}
	if r := pub.request(&signaling.Message{Type: signaling.TypeRelay, ConnectionID: sub.id, StreamID: streamID, SDP: "again"}); r.Type != signaling.TypeError {
		t.Fatalf("relay after unsubscribe: %+v", r)
	}
}

func TestConnectedTellsTheMediaMode(t *testing.T) {
	h := newHarness(t, crossbar.Config{})
	for _, mode := range []crossbar.MediaMode{crossbar.Routed, crossbar.Relayed} {
		s, err := h.srv.CreateSession(context.Background(), crossbar.SessionOptions{MediaMode: mode})
		if err != nil {
			t.Fatal(err)
		}
		if c := rawJoin(t, h, s, crossbar.RoleSubscriber); c.mode != string(mode) {
			t.Errorf("session %s: connected says mediaMode %q", mode, c.mode)
		}
	}
}

// A force-muted publisher of a relayed stream unmutes itself: the server has
// no media to unmute, and must not trip over that.
func TestRelayedPublisherUnmutesAfterForceMute(t *testing.T) {
	h := newHarness(t, crossbar.Config{})
	s, err := h.srv.CreateSession(context.Background(), crossbar.SessionOptions{MediaMode: crossbar.Relayed})
	if err != nil {
		t.Fatal(err)
	}
	pub := rawJoin(t, h, s, crossbar.RolePublisher)
	r := pub.request(&signaling.Message{Type: signaling.TypePublish, Stream: &signaling.Stream{HasAudio: true}})
	if err := s.ForceMuteStream(r.StreamID); err != nil {
		t.Fatal(err)
	}
	if m := pub.await(signaling.TypeMuteForced); m.StreamID != r.StreamID {
		t.Fatalf("muteForced %+v", m)
	}
	yes := true
	if r := pub.request(&signaling.Message{Type: signaling.TypeStreamUpdate, StreamID: r.StreamID, Audio: &yes}); r.Type != signaling.TypeOK {
		t.Fatalf("unmute: %+v %+v", r, r.Error)
	}
	if !s.Streams()[0].HasAudio() {
		t.Fatal("stream still muted")
	}
}

func TestStreamAndSubscriptionLimits(t *testing.T) {
	h := newHarness(t, crossbar.Config{MaxStreamsPerConnection: 2, MaxSubscriptionsPerSession: 1})
	s, err := h.srv.CreateSession(context.Background(), crossbar.SessionOptions{MediaMode: crossbar.Relayed})
	if err != nil {
		t.Fatal(err)
	}
	pub := rawJoin(t, h, s, crossbar.RolePublisher)
	var ids []string
	for i := range 3 {
		r := pub.request(&signaling.Message{Type: signaling.TypePublish, Stream: &signaling.Stream{HasAudio: true}})
		if i < 2 {
			if r.Type != signaling.TypeOK {
				t.Fatalf("stream %d: %+v", i, r)
			}
			ids = append(ids, r.StreamID)
		} else if r.Type != signaling.TypeError || r.Error.Code != 1605 {
			t.Fatalf("third stream: %+v", r)
		}
	}
	sub := rawJoin(t, h, s, crossbar.RoleSubscriber)
	if r := sub.request(&signaling.Message{Type: signaling.TypeSubscribe, StreamID: ids[0]}); r.Type != signaling.TypeOK {
		t.Fatalf("first subscription: %+v", r)
	}
	if r := sub.request(&signaling.Message{Type: signaling.TypeSubscribe, StreamID: ids[1]}); r.Type != signaling.TypeError || r.Error.Code != 1605 {
		t.Fatalf("second subscription: %+v", r)
	}
}
