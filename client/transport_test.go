package client_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/sfu"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// pipeServer is a Crossbar server that clients reach over in-memory pipes,
// each served by ServeTransport, and a session of it.
type pipeServer struct {
	t       *testing.T
	srv     *crossbar.Server
	session *crossbar.Session
	mu      sync.Mutex
	ends    map[string][]*freezable // the transports dialed, by client name
	gate    chan struct{}           // when set, dials wait until it is closed
	serving sync.WaitGroup
}

func newPipeServer(t *testing.T, cfg crossbar.Config) *pipeServer {
	t.Helper()
	cfg.APIKey, cfg.APISecret = "12345678", "0123456789abcdef0123456789abcdef"
	cfg.Media = sfu.Config{LoopbackOnly: true}
	srv, err := crossbar.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := srv.CreateSession(context.Background(), crossbar.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ps := &pipeServer{t: t, srv: srv, session: s, ends: map[string][]*freezable{}}
	t.Cleanup(func() {
		ps.mu.Lock()
		for _, list := range ps.ends {
			for _, end := range list {
				end.CloseNow()
			}
		}
		ps.mu.Unlock()
		ps.serving.Wait()
		srv.Close()
	})
	return ps
}

// connect connects a client named name over pipes, disconnected when the
// test ends.
func (ps *pipeServer) connect(name string, opts *client.Options) *client.Session {
	ps.t.Helper()
	tok, err := ps.srv.GenerateToken(ps.session.ID(), crossbar.TokenOptions{Role: crossbar.RolePublisher, Data: name})
	if err != nil {
		ps.t.Fatal(err)
	}
	dial := func(ctx context.Context) (signaling.Transport, error) {
		ps.mu.Lock()
		gate := ps.gate
		ps.mu.Unlock()
		if gate != nil {
			select {
			case <-gate:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		c, s := signaling.Pipe()
		ps.serving.Add(1)
		go func() {
			defer ps.serving.Done()
			ps.srv.ServeTransport(context.Background(), s)
		}()
		end := &freezable{Transport: c}
		ps.mu.Lock()
		ps.ends[name] = append(ps.ends[name], end)
		ps.mu.Unlock()
		return end, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.ConnectTransport(ctx, dial, tok, opts)
	if err != nil {
		ps.t.Fatalf("connect %s: %v", name, err)
	}
	ps.t.Cleanup(func() { c.Disconnect() })
	return c
}

// dialed returns the transports a client dialed so far.
func (ps *pipeServer) dialed(name string) []*freezable {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return append([]*freezable(nil), ps.ends[name]...)
}

// holdDials has dials wait until the returned release is called.
func (ps *pipeServer) holdDials() (release func()) {
	gate := make(chan struct{})
	ps.mu.Lock()
	ps.gate = gate
	ps.mu.Unlock()
	return func() {
		ps.mu.Lock()
		ps.gate = nil
		ps.mu.Unlock()
		close(gate)
	}
}

// freezable is a transport that works until frozen; then, as a partition,
// it carries nothing either way, not even the link's end.
type freezable struct {
	signaling.Transport
	frozen atomic.Bool
}

func (f *freezable) WriteMessage(ctx context.Context, b []byte) error {
	if f.frozen.Load() {
		return nil // lost
	}
	return f.Transport.WriteMessage(ctx, b)
}

func (f *freezable) ReadMessage(ctx context.Context) ([]byte, error) {
	for {
		b, err := f.Transport.ReadMessage(ctx)
		if !f.frozen.Load() {
			return b, err
		}
		if err != nil { // the end of the link is lost too: wait for ctx
			<-ctx.Done()
			return nil, ctx.Err()
		}
	}
}

func (f *freezable) CloseNow() error {
	signaling.CloseNow(f.Transport)
	return nil
}

// Go clients over pipes see each other, signal and leave as over
// WebSockets.
func TestConnectTransportOverPipe(t *testing.T) {
	ps := newPipeServer(t, crossbar.Config{})
	a := ps.connect("a", nil)
	b := ps.connect("b", nil)
	ev := waitEvent(t, a, "b's connectionCreated", func(ev client.Event) bool {
		return ev.Type == signaling.TypeConnectionCreated && ev.Connection.ID == b.Connection().ID
	})
	if ev.Connection.Data != "b" {
		t.Fatalf("a saw %+v", ev.Connection)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Signal(ctx, b.Connection().ID, "chat", "hi b"); err != nil {
		t.Fatal(err)
	}
	ev = waitEvent(t, b, "signal", func(ev client.Event) bool { return ev.Type == signaling.TypeSignal })
	if ev.Signal.From != a.Connection().ID || ev.Signal.Data != "hi b" {
		t.Fatalf("b got %+v", ev.Signal)
	}
	bID := b.Connection().ID
	if err := b.Disconnect(); err != nil {
		t.Fatal(err)
	}
	ev = waitEvent(t, a, "b's connectionDestroyed", func(ev client.Event) bool { return ev.Type == signaling.TypeConnectionDestroyed })
	if ev.Connection.ID != bID || ev.Reason != "clientDisconnected" {
		t.Fatalf("a saw %+v, reason %q", ev.Connection, ev.Reason)
	}
	if n := len(ps.dialed("a")); n != 1 {
		t.Errorf("a dialed %d transports, want 1", n)
	}
}

// A client whose transport fails dials a new one and resumes its
// connection, with what it missed, and nobody sees it go.
func TestConnectTransportResumesOnANewTransport(t *testing.T) {
	ps := newPipeServer(t, crossbar.Config{})
	flaky := ps.connect("flaky", nil)
	other := ps.connect("other", nil)
	id := flaky.Connection().ID
	waitEvent(t, flaky, "other's connectionCreated", func(ev client.Event) bool {
		return ev.Type == signaling.TypeConnectionCreated && ev.Connection.Data == "other"
	})

	ps.dialed("flaky")[0].CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := other.Signal(ctx, id, "t", "while away"); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, flaky, "reconnecting", func(ev client.Event) bool { return ev.Type == client.TypeReconnecting })
	waitEvent(t, flaky, "reconnected", func(ev client.Event) bool { return ev.Type == client.TypeReconnected })
	ev := waitEvent(t, flaky, "the signal sent while away", func(ev client.Event) bool { return ev.Type == signaling.TypeSignal })
	if ev.Signal.Data != "while away" {
		t.Fatalf("got %+v", ev.Signal)
	}
	if flaky.Connection().ID != id || len(ps.dialed("flaky")) != 2 {
		t.Fatalf("connection %s (was %s) after %d dials, want the same after 2", flaky.Connection().ID, id, len(ps.dialed("flaky")))
	}
	if err := flaky.Signal(ctx, other.Connection().ID, "t", "back"); err != nil {
		t.Fatal(err)
	}
	ev = waitEvent(t, other, "a signal or a connectionDestroyed", func(ev client.Event) bool {
		return ev.Type == signaling.TypeSignal || ev.Type == signaling.TypeConnectionDestroyed
	})
	if ev.Type != signaling.TypeSignal || ev.Signal.Data != "back" {
		t.Fatalf("other got %s %+v", ev.Type, ev.Signal)
	}
}

// Over a transport without a keep-alive of its own the client sends "ping"
// requests: they keep a server that drops silent clients content, and
// they notice a link gone dead without failing, within
// PingInterval+PingTimeout; the client then resumes on a new transport.
func TestConnectTransportPingsOverPipe(t *testing.T) {
	const interval, timeout = 50 * time.Millisecond, 250 * time.Millisecond
	// The server drops a client silent for 300 ms, and keeps its
	// connection long enough for the resume.
	ps := newPipeServer(t, crossbar.Config{PingInterval: 100 * time.Millisecond, PingTimeout: 200 * time.Millisecond, ReconnectGrace: 30 * time.Second})
	c := ps.connect("c", &client.Options{PingInterval: interval, PingTimeout: timeout})
	id := c.Connection().ID

	// Ten times the server's patience: the pings keep the link.
	quiet := time.After(3 * time.Second)
	for wait := true; wait; {
		select {
		case ev := <-c.Events():
			if ev.Type == client.TypeReconnecting {
				t.Fatal("the client reconnected while pinging")
			}
		case <-quiet:
			wait = false
		}
	}
	if n := len(ps.dialed("c")); n != 1 {
		t.Fatalf("the client dialed %d transports while pinging, want 1", n)
	}

	ps.dialed("c")[0].frozen.Store(true)
	frozen := time.Now()
	waitEvent(t, c, "reconnecting", func(ev client.Event) bool { return ev.Type == client.TypeReconnecting })
	if took := time.Since(frozen); took > interval+timeout+time.Second {
		t.Errorf("reconnecting %v after the link froze, want within %v", took, interval+timeout)
	} else {
		t.Logf("dead pipe noticed by the client's pings after %v", took.Round(time.Millisecond))
	}
	waitEvent(t, c, "reconnected", func(ev client.Event) bool { return ev.Type == client.TypeReconnected })
	if c.Connection().ID != id || len(ps.dialed("c")) < 2 {
		t.Fatalf("connection %s (was %s) after %d dials", c.Connection().ID, id, len(ps.dialed("c")))
	}
}

// A request made while the client reconnects waits for the new transport
// and goes on it, as opentok.js queues signals then, instead of failing on
// the lost one; one whose context ends first, or made by a client that
// cannot come back, fails with the reason.
func TestRequestsWaitWhileReconnecting(t *testing.T) {
	ps := newPipeServer(t, crossbar.Config{})
	c := ps.connect("c", &client.Options{ReconnectFor: 30 * time.Second})
	other := ps.connect("other", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	release := ps.holdDials()
	ps.dialed("c")[0].CloseNow()
	waitEvent(t, c, "reconnecting", func(ev client.Event) bool { return ev.Type == client.TypeReconnecting })
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if err := c.Signal(short, "", "t", "too late"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a signal whose context ended while reconnecting returned %v, want %v", err, context.DeadlineExceeded)
	}
	sent := make(chan error, 1)
	go func() { sent <- c.Signal(ctx, other.Connection().ID, "t", "queued") }()
	select {
	case err := <-sent:
		t.Fatalf("a signal made while reconnecting returned %v before the client was back", err)
	default:
	}
	release()
	waitEvent(t, c, "reconnected", func(ev client.Event) bool { return ev.Type == client.TypeReconnected })
	if err := <-sent; err != nil {
		t.Fatalf("the signal made while reconnecting: %v", err)
	}
	ev := waitEvent(t, other, "a signal", func(ev client.Event) bool { return ev.Type == signaling.TypeSignal })
	if ev.Signal.Data != "queued" || ev.Signal.From != c.Connection().ID {
		t.Fatalf("other got %+v", ev.Signal)
	}

	gone := ps.connect("gone", &client.Options{ReconnectFor: 300 * time.Millisecond})
	ps.holdDials() // never released: the client gives up
	ps.dialed("gone")[0].CloseNow()
	waitEvent(t, gone, "reconnecting", func(ev client.Event) bool { return ev.Type == client.TypeReconnecting })
	if err := gone.Signal(ctx, "", "t", "never"); !errors.Is(err, client.ErrDisconnected) {
		t.Errorf("a signal of a client that could not come back returned %v, want %v", err, client.ErrDisconnected)
	}
}
