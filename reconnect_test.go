package crossbar_test

import (
	"context"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// A client whose network drops resumes its connection within the grace
// period: nobody sees it leave, and events sent meanwhile reach it once.
func TestReconnectWithinGraceKeepsTheConnection(t *testing.T) {
	h := newHarness(t, crossbar.Config{ReconnectGrace: 5 * time.Second})
	s := h.session()
	host := watch(s)
	p, flaky, other, id := flakyClient(t, h, s, nil)
	ctx := context.Background()

	p.cut()
	next(t, flaky, client.TypeReconnecting)
	// A signal sent while flaky may be away still reaches it, once.
	if err := other.Signal(ctx, id, "t", "while away"); err != nil {
		t.Fatal(err)
	}
	next(t, flaky, client.TypeReconnected)
	checkResumed(t, flaky, other, id)
	none(t, other, 100*time.Millisecond, signaling.TypeConnectionDestroyed, signaling.TypeConnectionCreated)
	none(t, flaky, 100*time.Millisecond, signaling.TypeConnectionCreated, signaling.TypeSignal)
	host.waitFor(t, []string{"created flaky", "created other", "signal other->flaky t:while away", "signal flaky->other t:back"})
}

// A client that does not come back within the grace period is gone with
// reason networkDisconnected.
func TestDroppedClientEndsAfterGrace(t *testing.T) {
	h := newHarness(t, crossbar.Config{ReconnectGrace: 200 * time.Millisecond})
	s := h.session()
	host := watch(s)
	p, viaProxy := newProxy(t, h.ws)
	ctx := context.Background()
	// This client does not try to reconnect.
	gone, err := client.Connect(ctx, viaProxy, h.token(s, crossbar.RolePublisher, "gone"), &client.Options{ReconnectFor: -1})
	if err != nil {
		t.Fatal(err)
	}
	other := h.connect(s, crossbar.RolePublisher, "other")
	p.cut()
	if ev := next(t, gone, signaling.TypeSessionDisconnected); ev.Reason != "networkDisconnected" {
		t.Fatalf("client saw %+v", ev)
	}
	start := time.Now()
	if ev := next(t, other, signaling.TypeConnectionDestroyed); ev.Reason != "networkDisconnected" || ev.Connection.Data != "gone" {
		t.Fatalf("other saw %+v", ev)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %s to notice", d)
	}
	host.waitFor(t, []string{"created gone", "created other", "destroyed gone networkDisconnected"})
}

// Resuming needs the connection's secret key: a token holder cannot take over
// another tab's connection.
func TestResumeNeedsTheKey(t *testing.T) {
	h := newHarness(t, crossbar.Config{})
	s := h.session()
	tok := h.token(s, crossbar.RolePublisher, "a")
	a := h.connect(s, crossbar.RolePublisher, "a")
	ws := dialRaw(t, h.ws)
	send(t, ws, &signaling.Message{Type: signaling.TypeConnect, ID: 1, Token: tok,
		Resume: &signaling.Resume{ConnectionID: a.Connection().ID, Key: "guess"}})
	if m := read(t, ws); m.Type != signaling.TypeError || m.Error.Code != 404 {
		t.Fatalf("got %+v", m)
	}
}

// checkResumed checks that flaky, back on its connection id, got the signal
// "while away" that other sent it, and that a signal back reaches other.
func checkResumed(t *testing.T, flaky, other *client.Session, id string) {
	t.Helper()
	if ev := next(t, flaky, signaling.TypeSignal); ev.Signal.Data != "while away" {
		t.Fatalf("got %+v", ev.Signal)
	}
	if flaky.Connection().ID != id {
		t.Fatalf("connection id changed from %s to %s", id, flaky.Connection().ID)
	}
	if err := flaky.Signal(context.Background(), other.Connection().ID, "t", "back"); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, other, signaling.TypeSignal, signaling.TypeConnectionDestroyed); ev.Type != signaling.TypeSignal || ev.Signal.Data != "back" || ev.Signal.From != id {
		t.Fatalf("other got %+v", ev)
	}
}
