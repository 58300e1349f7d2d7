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
	// This client does not reconnect: only the server can notice.
	half, err := client.Connect(ctx, viaProxy, h.token(s, crossbar.RolePublisher, "half"), &client.Options{ReconnectFor: -1})
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
