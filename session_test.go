package crossbar_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// hostLog records a session's host callbacks in the order they ran.
type hostLog struct {
	mu     sync.Mutex
	events []string
}

func (l *hostLog) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, fmt.Sprintf(format, args...))
}

func (l *hostLog) waitFor(t *testing.T, want []string) {
	t.Helper()
	var got string
	if !poll(5*time.Second, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		got = strings.Join(l.events, "\n")
		return got == strings.Join(want, "\n")
	}) {
		t.Fatalf("host events:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

func watch(s *crossbar.Session) *hostLog {
	l := &hostLog{}
	s.OnConnectionCreated(func(c *crossbar.Connection) { l.add("created %s", c.Data()) })
	s.OnConnectionDestroyed(func(c *crossbar.Connection, r crossbar.Reason) { l.add("destroyed %s %s", c.Data(), r) })
	s.OnSignal(func(sig crossbar.Signal) {
		from := "host"
		if sig.From != nil {
			from = sig.From.Data()
		}
		to := "all"
		if sig.To != nil {
			to = sig.To.Data()
		}
		l.add("signal %s->%s %s:%s", from, to, sig.Type, sig.Data)
	})
	return l
}

func TestConnectEventsInOrder(t *testing.T) {
	h := newHarness(t, crossbar.Config{})
	s := h.session()
	host := watch(s)
	a := h.connect(s, crossbar.RolePublisher, "a")
	if ev := next(t, a, signaling.TypeConnectionCreated); ev.Connection.Data != "a" || ev.Connection.ID != a.Connection().ID {
		t.Fatalf("a's first event %+v", ev)
	}
	b := h.connect(s, crossbar.RoleSubscriber, "b")
	c := h.connect(s, crossbar.RoleModerator, "c")

	// a sees b then c arrive, in order.
	for _, want := range []string{"b", "c"} {
		if ev := next(t, a, signaling.TypeConnectionCreated); ev.Connection.Data != want {
			t.Fatalf("a saw %q, want %q", ev.Connection.Data, want)
		}
	}
	// c, connecting last, is told of everyone, itself included, oldest first.
	var got []string
	for range 3 {
		got = append(got, next(t, c, signaling.TypeConnectionCreated).Connection.Data)
	}
	if strings.Join(got, ",") != "a,b,c" {
		t.Fatalf("c saw %v", got)
	}
	if caps := c.Capabilities(); caps.ForceDisconnect != 1 || b.Capabilities().Publish != 0 || b.Capabilities().Subscribe != 1 {
		t.Fatalf("capabilities: moderator %+v subscriber %+v", caps, b.Capabilities())
	}
	if n := len(s.Connections()); n != 3 {
		t.Fatalf("host sees %d connections", n)
	}

	b.Disconnect()
	if ev := next(t, a, signaling.TypeConnectionDestroyed); ev.Connection.Data != "b" || ev.Reason != "clientDisconnected" {
		t.Fatalf("a saw %+v", ev)
	}
	if err := b.Signal(context.Background(), "", "t", "x"); !errors.Is(err, client.ErrDisconnected) {
		t.Fatalf("b after disconnect: %v", err)
	}
	host.waitFor(t, []string{"created a", "created b", "created c", "destroyed b clientDisconnected"})
}

func TestSignalsReachOnlyTheirTargets(t *testing.T) {
	h := newHarness(t, crossbar.Config{})
	s := h.session()
	host := watch(s)
	a := h.connect(s, crossbar.RolePublisher, "a")
	b := h.connect(s, crossbar.RoleSubscriber, "b")
	c := h.connect(s, crossbar.RolePublisher, "c")
	ctx := context.Background()

	if err := a.Signal(ctx, b.Connection().ID, "chat", "hi b"); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, b, signaling.TypeSignal); ev.Signal.Data != "hi b" || ev.Signal.From != a.Connection().ID || ev.Signal.Type != "chat" {
		t.Fatalf("b got %+v", ev.Signal)
	}
	if err := b.Signal(ctx, "", "all", "hello all"); err != nil {
		t.Fatal(err)
	}
	// Everyone, the sender included, gets the broadcast; c never got the
	// signal meant for b, so its first signal is the broadcast.
	for _, cl := range []*client.Session{a, b, c} {
		if ev := next(t, cl, signaling.TypeSignal); ev.Signal.Data != "hello all" {
			t.Fatalf("got %+v", ev.Signal)
		}
	}
	if err := s.Signal(crossbar.SignalOptions{To: c.Connection().ID, Type: "sys", Data: "from host"}); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, c, signaling.TypeSignal); ev.Signal.Data != "from host" || ev.Signal.From != "" {
		t.Fatalf("c got %+v", ev.Signal)
	}
	none(t, a, 200*time.Millisecond, signaling.TypeSignal)
	host.waitFor(t, []string{"created a", "created b", "created c",
		"signal a->b chat:hi b", "signal b->all all:hello all", "signal host->c sys:from host"})
}

func TestSignalValidation(t *testing.T) {
	h := newHarness(t, crossbar.Config{})
	s := h.session()
	a := h.connect(s, crossbar.RolePublisher, "a")
	ctx := context.Background()
	cases := []struct {
		name, to, typ, data string
		code                int
	}{
		{"type too long", "", strings.Repeat("t", 129), "", 413},
		{"data too large", "", "t", strings.Repeat("d", 8*1024+1), 413},
		{"bad type character", "", "a b", "", 400},
		{"unknown target", "nobody", "t", "", 404},
	}
	for _, tc := range cases {
		if err := a.Signal(ctx, tc.to, tc.typ, tc.data); errorCode(err) != tc.code {
			t.Errorf("%s: got %v, want code %d", tc.name, err, tc.code)
		}
	}
	// The limits themselves pass.
	if err := a.Signal(ctx, "", strings.Repeat("t", 128), strings.Repeat("d", 8*1024)); err != nil {
		t.Fatal(err)
	}
	if err := s.Signal(crossbar.SignalOptions{Type: "a b"}); !errors.Is(err, crossbar.ErrInvalidSignal) {
		t.Fatalf("host signal: %v", err)
	}
}

func TestRolesAreEnforcedOnEveryAction(t *testing.T) {
	h := newHarness(t, crossbar.Config{})
	s := h.session()
	ctx := context.Background()
	pubOnly := h.connect(s, crossbar.RolePublisherOnly, "po")
	pub := h.connect(s, crossbar.RolePublisher, "pub")
	sub := h.connect(s, crossbar.RoleSubscriber, "sub")

	if err := pubOnly.Signal(ctx, "", "t", "x"); errorCode(err) != 403 {
		t.Fatalf("publisher-only signal: %v", err)
	}
	if err := sub.Signal(ctx, "", "t", "x"); err != nil {
		t.Fatalf("subscriber signal: %v", err)
	}
	for _, c := range []*client.Session{pubOnly, pub, sub} {
		if err := c.ForceDisconnect(ctx, pub.Connection().ID); errorCode(err) != 1520 {
			t.Fatalf("%s forceDisconnect: %v", c.Connection().Data, err)
		}
		if err := c.ForceUnpublish(ctx, "any"); errorCode(err) != 1530 {
			t.Fatalf("%s forceUnpublish: %v", c.Connection().Data, err)
		}
	}
}

func TestForceDisconnectEndsExactlyThatConnection(t *testing.T) {
	h := newHarness(t, crossbar.Config{})
	s := h.session()
	host := watch(s)
	mod := h.connect(s, crossbar.RoleModerator, "mod")
	a := h.connect(s, crossbar.RolePublisher, "a")
	b := h.connect(s, crossbar.RolePublisher, "b")
	ctx := context.Background()

	if err := mod.ForceDisconnect(ctx, a.Connection().ID); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, a, signaling.TypeSessionDisconnected); ev.Reason != "forceDisconnected" {
		t.Fatalf("a: %+v", ev)
	}
	for _, c := range []*client.Session{mod, b} {
		if ev := next(t, c, signaling.TypeConnectionDestroyed); ev.Connection.ID != a.Connection().ID || ev.Reason != "forceDisconnected" {
			t.Fatalf("%+v", ev)
		}
	}
	if err := a.Signal(ctx, "", "t", "x"); !errors.Is(err, client.ErrDisconnected) {
		t.Fatalf("a after force disconnect: %v", err)
	}
	if err := b.Signal(ctx, "", "t", "still here"); err != nil {
		t.Fatalf("b: %v", err)
	}
	if err := mod.ForceDisconnect(ctx, "gone"); errorCode(err) != 404 {
		t.Fatalf("unknown connection: %v", err)
	}
	// The host can do it too.
	if err := s.ForceDisconnect(b.Connection().ID); err != nil {
		t.Fatal(err)
	}
	next(t, b, signaling.TypeSessionDisconnected)
	host.waitFor(t, []string{"created mod", "created a", "created b", "destroyed a forceDisconnected",
		"signal b->all t:still here", "destroyed b forceDisconnected"})
	if n := len(s.Connections()); n != 1 {
		t.Fatalf("%d connections left", n)
	}
}

func TestRevokingATokenEndsItsConnections(t *testing.T) {
	h := newHarness(t, crossbar.Config{})
	s := h.session()
	ctx := context.Background()
	tok := h.token(s, crossbar.RolePublisher, "victim")
	v1, err := client.Connect(ctx, h.ws, tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := client.Connect(ctx, h.ws, tok, nil) // a page may hold several
	if err != nil {
		t.Fatal(err)
	}
	other := h.connect(s, crossbar.RolePublisher, "other")

	if err := h.srv.RevokeToken(ctx, v1.Connection().ID); err != nil { // not a token id: no effect
		t.Fatal(err)
	}
	if err := h.srv.RevokeToken(ctx, crossbar.TokenID(tok)); err != nil {
		t.Fatal(err)
	}
	for _, v := range []*client.Session{v1, v2} {
		if ev := next(t, v, signaling.TypeSessionDisconnected); ev.Reason != "tokenRevoked" {
			t.Fatalf("%+v", ev)
		}
	}
	if _, err := client.Connect(ctx, h.ws, tok, nil); errorCode(err) != 1004 {
		t.Fatalf("reconnect with revoked token: %v", err)
	}
	if err := other.Signal(ctx, "", "t", "x"); err != nil {
		t.Fatal(err)
	}
}

func TestConnectFailures(t *testing.T) {
	h := newHarness(t, crossbar.Config{MaxConnectionsPerSession: 1})
	ctx := context.Background()
	s := h.session()
	closed := h.session()
	closedTok := h.token(closed, crossbar.RolePublisher, "")
	closed.Close()
	h.connect(s, crossbar.RolePublisher, "first")

	cases := []struct {
		name, token string
		code        int
	}{
		{"garbage token", "garbage", 1004},
		{"closed session", closedTok, 1005},
		{"connection limit", h.token(s, crossbar.RolePublisher, "second"), 1027},
	}
	for _, tc := range cases {
		if _, err := client.Connect(ctx, h.ws, tc.token, nil); errorCode(err) != tc.code {
			t.Errorf("%s: got %v, want code %d", tc.name, err, tc.code)
		}
	}
}

func TestSessionCloseDisconnectsEveryone(t *testing.T) {
	h := newHarness(t, crossbar.Config{})
	s := h.session()
	a := h.connect(s, crossbar.RolePublisher, "a")
	b := h.connect(s, crossbar.RolePublisher, "b")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client.Session{a, b} {
		if ev := next(t, c, signaling.TypeSessionDisconnected); ev.Reason != "sessionClosed" {
			t.Fatalf("%+v", ev)
		}
	}
}

// A slow host callback delays later callbacks, never the session.
func TestSlowCallbackDoesNotStallSession(t *testing.T) {
	h := newHarness(t, crossbar.Config{})
	s := h.session()
	release := make(chan struct{})
	var mu sync.Mutex
	var order []string
	s.OnConnectionCreated(func(c *crossbar.Connection) {
		<-release
		mu.Lock()
		order = append(order, c.Data())
		mu.Unlock()
	})
	a := h.connect(s, crossbar.RolePublisher, "a")
	b := h.connect(s, crossbar.RolePublisher, "b")
	if err := a.Signal(context.Background(), b.Connection().ID, "t", "x"); err != nil {
		t.Fatal(err)
	}
	next(t, b, signaling.TypeSignal)
	close(release)
	var got string
	if !poll(5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		got = strings.Join(order, ",")
		return got == "a,b"
	}) {
		t.Fatalf("callbacks ran as %q", got)
	}
}
