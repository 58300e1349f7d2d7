package crossbar_test

import (
	"context"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// pingBound is how long the server and the Go client may take, with their
// default keep-alive, to notice a link that went dead without a goodbye.
const pingBound = signaling.DefaultPingInterval + signaling.DefaultPingTimeout

// A client whose link goes half-open (nothing gets through, no close either)
// is noticed by the server's pings; after the grace period the others see
// it go with reason networkDisconnected.
func TestHalfOpenClientIsNoticed(t *testing.T) {
	const grace = 500 * time.Millisecond
	h := newHarness(t, crossbar.Config{ReconnectGrace: grace}) // default pings
	s := h.session()
	p, viaProxy := newProxy(t, h.ws)
	ctx := context.Background()
	// This client never pings nor reconnects: only the server can notice.
	half, err := client.Connect(ctx, viaProxy, h.token(s, crossbar.RolePublisher, "half"), &client.Options{PingInterval: -1, ReconnectFor: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer half.Disconnect()
	other := h.connect(s, crossbar.RolePublisher, "other")

	p.freeze()
	start := time.Now()
	ev := nextWithin(t, other, pingBound+grace+5*time.Second, signaling.TypeConnectionDestroyed)
	took := time.Since(start)
	if ev.Reason != "networkDisconnected" || ev.Connection.Data != "half" {
		t.Fatalf("other saw %+v", ev)
	}
	// A ping must have timed out first; and within the keep-alive's bound.
	if took < signaling.DefaultPingTimeout+grace || took > pingBound+grace+time.Second {
		t.Errorf("connection destroyed %v after the link froze, want between %v and %v",
			took, signaling.DefaultPingTimeout+grace, pingBound+grace)
	}
	t.Logf("half-open Go client: noticed by the server within %v (connection destroyed after %v with a %v grace)",
		(took - grace).Round(10*time.Millisecond), took.Round(10*time.Millisecond), grace)
}

// A partition that the server does not close is noticed by the Go client's
// own pings: it reports sessionReconnecting, keeps trying while the
// partition lasts, and resumes its connection once the network is back,
// with the events it missed and without anyone seeing it leave.
func TestPartitionedClientNoticesAndResumes(t *testing.T) {
	// A long grace: the server may notice the partition first, and the
	// connection must outlive the client's attempts into the partition.
	h := newHarness(t, crossbar.Config{ReconnectGrace: 30 * time.Second})
	s := h.session()
	p, viaProxy := newProxy(t, h.ws)
	ctx := context.Background()
	flaky, err := client.Connect(ctx, viaProxy, h.token(s, crossbar.RolePublisher, "flaky"), nil) // default pings
	if err != nil {
		t.Fatal(err)
	}
	defer flaky.Disconnect()
	other := h.connect(s, crossbar.RolePublisher, "other")
	next(t, flaky, signaling.TypeConnectionCreated) // itself
	next(t, flaky, signaling.TypeConnectionCreated) // other
	id := flaky.Connection().ID

	p.freeze()
	start := time.Now()
	nextWithin(t, flaky, pingBound+5*time.Second, client.TypeReconnecting)
	took := time.Since(start)
	if took < signaling.DefaultPingTimeout || took > pingBound+time.Second {
		t.Errorf("reconnecting %v after the partition began, want between %v and %v", took, signaling.DefaultPingTimeout, pingBound)
	}
	t.Logf("partitioned Go client: noticed within %v", took.Round(10*time.Millisecond))
	if err := other.Signal(ctx, id, "t", "while away"); err != nil {
		t.Fatal(err)
	}
	// Heal the partition once an attempt to resume is stuck in it: the
	// client must give that attempt up and try again.
	links := p.links.Load()
	waitFor(t, 5*time.Second, "an attempt to resume into the partition", func() bool { return p.links.Load() > links })
	p.thaw()
	healed := time.Now()
	nextWithin(t, flaky, 15*time.Second, client.TypeReconnected)
	t.Logf("partitioned Go client: resumed %v after the partition healed", time.Since(healed).Round(10*time.Millisecond))
	if ev := next(t, flaky, signaling.TypeSignal); ev.Signal.Data != "while away" {
		t.Fatalf("got %+v", ev.Signal)
	}
	if flaky.Connection().ID != id {
		t.Fatalf("connection id changed from %s to %s", id, flaky.Connection().ID)
	}
	if err := flaky.Signal(ctx, other.Connection().ID, "t", "back"); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, other, signaling.TypeSignal, signaling.TypeConnectionDestroyed); ev.Type != signaling.TypeSignal || ev.Signal.Data != "back" {
		t.Fatalf("other got %+v", ev)
	}
}
