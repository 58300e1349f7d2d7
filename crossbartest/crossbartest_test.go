package crossbartest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/crossbartest"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// wait bounds each wait of a test: generous, as every event here comes
// within milliseconds unless something is wrong.
const wait = 5 * time.Second

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// join joins a participant with a token of role, named name.
func join(t *testing.T, ts *crossbartest.Server, s *crossbar.Session, role crossbar.Role, name string) *crossbartest.Participant {
	t.Helper()
	return ts.Join(t, s.ID(), ts.Token(t, s.ID(), crossbar.TokenOptions{Role: role, Data: name}))
}

// must fails the test on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestSignalOnlyStreams: participants see each other, publish streams
// without media, subscribe to them, signal and leave, as the host's
// callbacks and state also tell.
func TestSignalOnlyStreams(t *testing.T) {
	ts := crossbartest.NewServer(t, crossbar.Config{})
	s := ts.NewSession(t, crossbar.SessionOptions{})
	created := make(chan string, 1)
	s.OnStreamCreated(func(st *crossbar.Stream) { created <- st.Name() })
	ctx := ctxFor(t)

	ann := join(t, ts, s, crossbar.RolePublisher, "ann")
	bob := join(t, ts, s, crossbar.RolePublisher, "bob")
	if c, err := ann.WaitConnectionCreated(ctx); err != nil || c.Data != "bob" {
		t.Fatalf("ann: connection %+v, %v; want bob's", c, err)
	}
	pub, err := ann.Publish(ctx, client.PublishOptions{Name: "cam", Audio: true, Video: true})
	must(t, err)
	if name := <-created; name != "cam" {
		t.Errorf("the host saw stream %q created, want cam", name)
	}
	st, err := bob.WaitStreamCreated(ctx)
	must(t, err)
	if st.ID != pub.StreamID() || st.ConnectionID != ann.ID() || !st.HasAudio || !st.HasVideo {
		t.Errorf("bob sees stream %+v, want ann's %s with audio and video", st, pub.StreamID())
	}
	if _, err := bob.Subscribe(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	hs, err := s.Stream(st.ID)
	must(t, err)
	if subs := hs.Subscribers(); len(subs) != 1 || subs[0].Connection().ID() != bob.ID() {
		t.Errorf("the host sees subscribers %v, want bob", subs)
	}

	must(t, bob.Signal(ctx, ann.ID(), "chat", "hi ann"))
	if sig, err := ann.WaitSignal(ctx, "chat"); err != nil || sig.Data != "hi ann" || sig.From != bob.ID() {
		t.Fatalf("ann: signal %+v, %v", sig, err)
	}
	must(t, ann.Unpublish(ctx, st.ID))
	if gone, reason, err := bob.WaitStreamDestroyed(ctx); err != nil || gone.ID != st.ID || reason != "clientUnpublished" {
		t.Fatalf("bob: stream %s destroyed (%s), %v", gone.ID, reason, err)
	}
	must(t, ann.Disconnect())
	if c, reason, err := bob.WaitConnectionDestroyed(ctx); err != nil || c.ID != ann.ID() || reason != "clientDisconnected" {
		t.Fatalf("bob: connection %s destroyed (%s), %v", c.ID, reason, err)
	}
}

// TestRolesAreTheServers: a subscriber token cannot publish, with the
// server's own error.
func TestRolesAreTheServers(t *testing.T) {
	ts := crossbartest.NewServer(t, crossbar.Config{})
	s := ts.NewSession(t, crossbar.SessionOptions{})
	viewer := join(t, ts, s, crossbar.RoleSubscriber, "viewer")
	_, err := viewer.Publish(ctxFor(t), client.PublishOptions{Video: true})
	var se *signaling.Error
	if !errors.As(err, &se) || se.Code != 1500 {
		t.Fatalf("a subscriber published: %v, want error 1500", err)
	}
}

// TestWaitFailureListsEvents: a wait that times out says what the
// participant saw.
func TestWaitFailureListsEvents(t *testing.T) {
	ts := crossbartest.NewServer(t, crossbar.Config{})
	s := ts.NewSession(t, crossbar.SessionOptions{})
	ann := join(t, ts, s, crossbar.RolePublisher, "ann")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := ann.WaitSignal(ctx, "never")
	if err == nil {
		t.Fatal("a signal nobody sent arrived")
	}
	for _, want := range []string{`saw no signal "never"`, "it saw:", `1. connectionCreated connection ` + ann.ID() + ` "ann"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// TestTokenExpiresWithTheClock: a token expired by the fake clock refuses
// further actions and further joins.
func TestTokenExpiresWithTheClock(t *testing.T) {
	ts := crossbartest.NewServer(t, crossbar.Config{})
	s := ts.NewSession(t, crossbar.SessionOptions{})
	tok := ts.Token(t, s.ID(), crossbar.TokenOptions{Role: crossbar.RolePublisher, ExpireTime: ts.Clock.Now().Add(time.Hour)})
	ann := ts.Join(t, s.ID(), tok)
	ctx := ctxFor(t)
	must(t, ann.Signal(ctx, "", "before", ""))
	ts.Clock.Advance(time.Hour)
	var se *signaling.Error
	if err := ann.Signal(ctx, "", "after", ""); !errors.As(err, &se) || se.Code != 1004 {
		t.Errorf("signal with an expired token: %v, want error 1004", err)
	}
	if p, err := ts.Connect(ctx, s.ID(), tok); !errors.As(err, &se) || se.Code != 1004 {
		if p != nil {
			p.Disconnect()
		}
		t.Errorf("join with an expired token: %v, want error 1004", err)
	}
}

// TestCutLinkAndGrace: a participant whose link is cut is gone for the
// others only once the fake clock passes the reconnect grace period; one
// whose link comes back in time resumes unnoticed.
func TestCutLinkAndGrace(t *testing.T) {
	ts := crossbartest.NewServer(t, crossbar.Config{ReconnectGrace: 30 * time.Second})
	s := ts.NewSession(t, crossbar.SessionOptions{})
	ctx := ctxFor(t)
	ann := join(t, ts, s, crossbar.RolePublisher, "ann")
	bob := join(t, ts, s, crossbar.RolePublisher, "bob")
	_, err := ann.WaitConnectionCreated(ctx)
	must(t, err)

	bob.Cut()
	if _, err := bob.WaitEvent(ctx, client.TypeReconnecting); err != nil {
		t.Fatal(err)
	}
	ts.Clock.Advance(29 * time.Second)
	bob.Restore()
	if _, err := bob.WaitEvent(ctx, client.TypeReconnected); err != nil {
		t.Fatal(err)
	}
	must(t, bob.Signal(ctx, ann.ID(), "back", ""))
	if _, err := ann.WaitSignal(ctx, "back"); err != nil {
		t.Fatal(err)
	}

	bob.Cut()
	ts.Clock.Advance(30 * time.Second)
	c, reason, err := ann.WaitConnectionDestroyed(ctx)
	if err != nil || c.ID != bob.ID() || reason != "networkDisconnected" {
		t.Fatalf("ann: connection %s destroyed (%s), %v; want bob's, networkDisconnected", c.ID, reason, err)
	}
	for _, ev := range ann.Events() {
		if ev.Type == signaling.TypeConnectionDestroyed && ev.Connection.ID == bob.ID() && ev.Reason != "networkDisconnected" {
			t.Errorf("ann saw bob leave twice: %s", crossbartest.Describe(ev))
		}
	}
}

// TestClockAdvanceOrder: due functions run in the order of their time, at
// that time, and those stopped or not due do not.
func TestClockAdvanceOrder(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := crossbartest.NewClock(start)
	var got []time.Duration
	note := func() { got = append(got, c.Now().Sub(start)) }
	c.AfterFunc(2*time.Second, note)
	c.AfterFunc(time.Second, func() {
		note()
		c.AfterFunc(500*time.Millisecond, note) // due within the same Advance
	})
	stopped := c.AfterFunc(time.Second, note)
	c.AfterFunc(time.Minute, note)
	if !stopped.Stop() || stopped.Stop() {
		t.Error("Stop reports a pending timer stopped twice, or not once")
	}
	c.Advance(2 * time.Second)
	want := []time.Duration{time.Second, 1500 * time.Millisecond, 2 * time.Second}
	if len(got) != len(want) {
		t.Fatalf("ran at %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ran at %v, want %v", got, want)
		}
	}
	if now := c.Now().Sub(start); now != 2*time.Second {
		t.Errorf("clock at %v after Advance(2s)", now)
	}
}

// TestCreationTimesFollowTheClock: sessions, connections and streams are
// created at the fake clock's time.
func TestCreationTimesFollowTheClock(t *testing.T) {
	ts := crossbartest.NewServer(t, crossbar.Config{})
	ts.Clock.Advance(48 * time.Hour)
	s := ts.NewSession(t, crossbar.SessionOptions{})
	now := ts.Clock.Now()
	ann := join(t, ts, s, crossbar.RolePublisher, "ann")
	pub, err := ann.Publish(ctxFor(t), client.PublishOptions{Video: true})
	must(t, err)
	st, err := s.Stream(pub.StreamID())
	must(t, err)
	for what, at := range map[string]time.Time{"session": s.CreationTime(), "connection": st.Connection().CreationTime(), "stream": st.CreationTime()} {
		if !at.Equal(now) {
			t.Errorf("%s created at %v, want the clock's %v", what, at, now)
		}
	}
	if ms := ann.Client().Connection().CreationTime; ms != now.UnixMilli() {
		t.Errorf("the client sees its connection created at %d ms, want %d", ms, now.UnixMilli())
	}
}
