package crossbar_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// pipeClient is a raw client served by ServeTransport over an in-memory
// pipe, and what it knows to resume its connection.
type pipeClient struct {
	*rawClient
	end       *signaling.PipeEnd
	served    <-chan error // ServeTransport's result
	token     string
	resumeKey string
}

// servePipe serves the server's end of a new pipe until the test ends, and
// returns the client's end and ServeTransport's result.
func servePipe(t *testing.T, srv *crossbar.Server) (*signaling.PipeEnd, <-chan error) {
	t.Helper()
	client, server := signaling.Pipe()
	served := make(chan error, 1)
	go func() {
		served <- srv.ServeTransport(context.Background(), server)
		close(served) // for the cleanup, when the test took the result
	}()
	t.Cleanup(func() {
		client.CloseNow()
		<-served
	})
	return client, served
}

// pipeJoin connects a raw client to s over a pipe.
func pipeJoin(t *testing.T, h *harness, s *crossbar.Session, data string) *pipeClient {
	t.Helper()
	c := &pipeClient{token: h.token(s, crossbar.RolePublisher, data)}
	c.connect(t, h, &signaling.Message{Type: signaling.TypeConnect, ID: 1, Token: c.token})
	return c
}

// connect sends m, a "connect", on a new pipe and reads the reply.
func (c *pipeClient) connect(t *testing.T, h *harness, m *signaling.Message) *signaling.Message {
	t.Helper()
	end, served := servePipe(t, h.srv)
	send(t, end, m)
	r := read(t, end)
	if r.Type != signaling.TypeConnected {
		t.Fatalf("connect: %+v", r)
	}
	if c.rawClient == nil {
		c.rawClient = &rawClient{t: t, id: r.Connection.ID, mode: r.MediaMode, n: 1}
		c.resumeKey = r.Connection.ResumeKey
	}
	c.ws, c.end, c.served = end, end, served
	return r
}

// resume resumes the connection on a new pipe.
func (c *pipeClient) resume(t *testing.T, h *harness) {
	t.Helper()
	r := c.connect(t, h, &signaling.Message{Type: signaling.TypeConnect, ID: 1, Token: c.token,
		Resume: &signaling.Resume{ConnectionID: c.id, Key: c.resumeKey, Received: c.received}})
	if !r.Resumed || r.Connection.ID != c.id {
		t.Fatalf("resume: %+v", r)
	}
}

// servedWithin returns ServeTransport's result, failing the test when it
// has not returned within a few seconds.
func (c *pipeClient) servedWithin(t *testing.T) error {
	t.Helper()
	select {
	case err := <-c.served:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("ServeTransport did not return")
		return nil
	}
}

// Two clients served over pipes connect, see each other, exchange signals
// and leave, as over WebSockets.
func TestServeTransportOverPipe(t *testing.T) {
	h := newHarness(t, crossbar.Config{})
	s := h.session()
	a := pipeJoin(t, h, s, "a")
	b := pipeJoin(t, h, s, "b")
	if m := a.await(signaling.TypeConnectionCreated); m.Connection.ID != b.id || m.Connection.Data != "b" {
		t.Fatalf("a saw %+v", m.Connection)
	}

	if r := a.request(&signaling.Message{Type: signaling.TypeSignal, Signal: &signaling.Signal{To: b.id, Type: "chat", Data: "hi b"}}); r.Type != signaling.TypeOK {
		t.Fatalf("signal: %+v", r)
	}
	if m := b.await(signaling.TypeSignal); m.Signal.From != a.id || m.Signal.Data != "hi b" {
		t.Fatalf("b got %+v", m.Signal)
	}
	send(t, b.end, &signaling.Message{Type: signaling.TypeSignal, Signal: &signaling.Signal{Type: "chat", Data: "hi all"}}) // no id: no "ok"
	for _, c := range []*pipeClient{a, b} {
		if m := c.await(signaling.TypeSignal); m.Signal.From != b.id || m.Signal.Data != "hi all" {
			t.Fatalf("got %+v", m.Signal)
		}
	}

	if r := a.request(&signaling.Message{Type: signaling.TypeDisconnect}); r.Type != signaling.TypeOK {
		t.Fatalf("disconnect: %+v", r)
	}
	if _, err := a.end.ReadMessage(context.Background()); !errors.Is(err, signaling.ErrClosed) {
		t.Fatalf("read after disconnect: %v, want ErrClosed", err)
	}
	if err := a.servedWithin(t); err != nil {
		t.Fatalf("ServeTransport after a disconnect: %v", err)
	}
	if m := b.await(signaling.TypeConnectionDestroyed); m.Connection.ID != a.id || m.Reason != "clientDisconnected" {
		t.Fatalf("b saw %+v, reason %q", m.Connection, m.Reason)
	}
	waitConnections(t, s, 1)
}

// A pipe dropped without a goodbye leaves the connection for the grace
// period: resumed within it, it carries on with what it missed and nobody
// saw it go; not resumed, it ends with reason networkDisconnected.
func TestServeTransportDroppedPipeWaitsForResume(t *testing.T) {
	const grace = 500 * time.Millisecond
	h := newHarness(t, crossbar.Config{ReconnectGrace: grace})
	s := h.session()
	flaky := pipeJoin(t, h, s, "flaky")
	other := pipeJoin(t, h, s, "other")
	flaky.await(signaling.TypeConnectionCreated)

	flaky.end.CloseNow()
	if err := flaky.servedWithin(t); err == nil || errors.Is(err, signaling.ErrClosed) {
		t.Fatalf("ServeTransport after a drop: %v, want a failed link", err)
	}
	other.request(&signaling.Message{Type: signaling.TypeSignal, Signal: &signaling.Signal{To: flaky.id, Type: "t", Data: "while away"}})
	flaky.resume(t, h)
	if m := flaky.await(signaling.TypeSignal); m.Signal.Data != "while away" {
		t.Fatalf("resumed client got %+v", m.Signal)
	}

	flaky.end.CloseNow()
	dropped := time.Now()
	m := other.await(signaling.TypeConnectionDestroyed)
	if took := time.Since(dropped); m.Connection.ID != flaky.id || m.Reason != "networkDisconnected" || took < grace {
		t.Fatalf("other saw %+v, reason %q, %v after the drop; want networkDisconnected after %v", m.Connection, m.Reason, took, grace)
	}
}

// Over a transport without a keep-alive of its own, the server takes a
// client that sends nothing for PingInterval+PingTimeout for dead; one that
// pings stays.
func TestServeTransportDropsSilentClient(t *testing.T) {
	const interval, timeout = 100 * time.Millisecond, 200 * time.Millisecond
	h := newHarness(t, crossbar.Config{PingInterval: interval, PingTimeout: timeout, ReconnectGrace: -1})
	s := h.session()
	pinger := pipeJoin(t, h, s, "pinger")
	silent := pipeJoin(t, h, s, "silent")
	joined := time.Now()
	pinging := make(chan struct{})
	go func() { // pings and reads as the client is told to, until the end
		defer close(pinging)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for range tick.C {
			b, _ := signaling.Encode(&signaling.Message{Type: signaling.TypePing, ID: 1})
			if pinger.end.WriteMessage(context.Background(), b) != nil {
				return
			}
		}
	}()
	go func() {
		for {
			if _, err := pinger.end.ReadMessage(context.Background()); err != nil {
				return
			}
		}
	}()
	defer func() {
		pinger.end.CloseNow()
		<-pinging
	}()

	err := silent.servedWithin(t)
	// The server's wait began as it answered the join, a little before
	// the client saw the answer.
	took := time.Since(joined)
	if !errors.Is(err, context.DeadlineExceeded) || took < interval+timeout-interval/2 || took > interval+timeout+time.Second {
		t.Fatalf("ServeTransport ended with %v after %v, want a deadline after %v", err, took, interval+timeout)
	}
	waitConnections(t, s, 1)
	if c := s.Connections(); c[0].ID() != pinger.id {
		t.Fatalf("the pinging client is gone")
	}
	select {
	case err := <-pinger.served:
		t.Fatalf("ServeTransport of the pinging client ended: %v", err)
	default:
	}
}

// TestClientLeavesWhileTheServerWrites: a Go client that disconnects
// while the server is sending it news (a stream the host just published)
// leaves at once, not after the reconnect grace: its link closes in an
// orderly way, after its disconnect.
func TestClientLeavesWhileTheServerWrites(t *testing.T) {
	h := newHarness(t, crossbar.Config{})
	s := h.session()
	for i := range 10 {
		c := h.connect(s, crossbar.RolePublisher, fmt.Sprint("guest ", i))
		id := c.Connection().ID
		pub, err := s.Publish(crossbar.PublishOptions{Name: "host", Audio: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Disconnect(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 2*time.Second, "the guest gone", func() bool {
			_, err := s.Connection(id)
			return err != nil
		})
		pub.Unpublish()
	}
}

// stallingStore is a MemoryStore whose revocation checks wait, once
// stalled, until released: it makes every request of a client slow.
type stallingStore struct {
	*crossbar.MemoryStore
	stalled  atomic.Bool
	checking chan struct{} // a check began while stalled
	release  chan struct{}
}

func (s *stallingStore) IsRevoked(ctx context.Context, tokenID string) (bool, error) {
	if s.stalled.Load() {
		s.checking <- struct{}{}
		select {
		case <-s.release:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	return s.MemoryStore.IsRevoked(ctx, tokenID)
}

// A slow request does not hold up the client's pings, which a client takes
// for the link's life, and the requests behind it are still carried out
// in order.
func TestServeTransportAnswersPingsDuringASlowRequest(t *testing.T) {
	store := &stallingStore{MemoryStore: crossbar.NewMemoryStore(), checking: make(chan struct{}, 1), release: make(chan struct{})}
	release := sync.OnceFunc(func() { close(store.release) })
	h := newHarness(t, crossbar.Config{Store: store})
	s := h.session()
	c := pipeJoin(t, h, s, "c")
	t.Cleanup(release) // before the pipe's cleanup, which waits for ServeTransport
	store.stalled.Store(true)
	signal := func(id uint64) *signaling.Message {
		return &signaling.Message{Type: signaling.TypeSignal, ID: id, Signal: &signaling.Signal{Type: "chat", Data: fmt.Sprint(id)}}
	}
	send(t, c.end, signal(10))
	select {
	case <-store.checking:
	case <-time.After(5 * time.Second):
		t.Fatal("the signal was not checked")
	}
	send(t, c.end, signal(11))
	send(t, c.end, &signaling.Message{Type: signaling.TypePing, ID: 12})
	if m := read(t, c.end); m.Re != 12 || m.Type != signaling.TypeOK {
		t.Fatalf("while a request waits, got %+v, want the ping's ok", m)
	}
	store.stalled.Store(false)
	release()
	var order []uint64
	for len(order) < 2 {
		if m := read(t, c.end); m.Re != 0 {
			if m.Type != signaling.TypeOK {
				t.Fatalf("request %d: %+v", m.Re, m)
			}
			order = append(order, m.Re)
		}
	}
	if order[0] != 10 || order[1] != 11 {
		t.Fatalf("requests answered in the order %v, want [10 11]", order)
	}
}
