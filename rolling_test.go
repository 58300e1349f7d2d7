package crossbar_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/internal/redistest"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// TestClusterRollingRestart: a live session of rollingClients clients,
// three of them publishing and each subscribing to one of those, on three
// nodes behind a load balancer, goes through a rolling restart: each node
// in turn is replaced by a new one, then drained (Server.Shutdown) or
// killed. Every call stays up: the same connection and stream ids, nobody
// seen leaving, and every subscription's video back after each step. The
// video gaps of the subscriptions each step touched are reported.
func TestClusterRollingRestart(t *testing.T) {
	gaps := map[string][]time.Duration{}
	for _, crash := range []bool{false, true} {
		name := "drain"
		if crash {
			name = "crash"
		}
		t.Run(name, func(t *testing.T) { gaps[name] = rollingRestart(t, crash) })
	}
	if *recoveryPlot != "" && len(gaps["drain"]) > 0 && len(gaps["crash"]) > 0 {
		if err := plotGaps(*recoveryPlot, gaps); err != nil {
			t.Error(err)
		}
	}
}

// roller is a client of a rolling restart.
type roller struct {
	c   *client.Session
	log *eventLog
	at  *atomic.Pointer[string] // the URL of the node it is on
	id  string
	pub *client.Publisher // nil for those that only subscribe
}

// rollingSub is a subscription of one roller to another's stream.
type rollingSub struct {
	who, of *roller
	clock   *packetClock
}

// rollingRestart runs one rolling restart and returns the video gaps of
// the subscriptions its steps touched.
func rollingRestart(t *testing.T, crash bool) []time.Duration {
	rs := redistest.Start(t)
	var nodes []*moveNode
	for i := range 3 {
		nodes = append(nodes, startNode(t, rs, fmt.Sprintf("node%d", i+1), crossbar.Config{}))
	}
	b := balance(nodes, 0)
	s, err := nodes[0].srv.CreateSession(context.Background(), crossbar.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var rollers []*roller
	for i := range rollingClients {
		c, l, at := balanced(t, b, nodes[0].srv, s, fmt.Sprint("c", i))
		r := &roller{c: c, log: l, at: at, id: c.Connection().ID}
		if i < 3 {
			r.pub = synthesize(t, c, r.id)
		}
		rollers = append(rollers, r)
	}
	var subs []*rollingSub
	for i, r := range rollers {
		of := rollers[(i+1)%3]
		subs = append(subs, &rollingSub{who: r, of: of, clock: subscribeClocked(t, r.c, of.pub.StreamID())})
	}
	start := time.Now()
	for _, sub := range subs {
		waitFor(t, 30*time.Second, "media before the restart", func() bool { return sub.clock.since(start) })
	}
	t.Logf("%d clients, %d subscriptions up %v after the first subscribe", len(rollers), len(subs), time.Since(start).Round(10*time.Millisecond))

	var gaps []time.Duration
	for step, old := range slices.Clone(nodes) {
		fresh := startNode(t, rs, fmt.Sprintf("node%d", len(nodes)+step+1), crossbar.Config{})
		b.replace(old.ws, fresh.ws)
		var touched []*rollingSub
		for _, sub := range subs {
			if *sub.who.at.Load() == old.ws || *sub.of.at.Load() == old.ws {
				touched = append(touched, sub)
			}
			sub.clock.gap.Store(0)
		}
		began := time.Now()
		if crash {
			old.crash()
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := old.srv.Shutdown(ctx)
			cancel()
			if err != nil {
				t.Fatalf("step %d: shutdown: %v", step+1, err)
			}
		}
		ended := time.Now()
		for _, sub := range subs {
			waitFor(t, 30*time.Second, fmt.Sprintf("step %d: media again for %s (on %s) from %s (on %s)", step+1,
				sub.who.id, *sub.who.at.Load(), sub.of.id, *sub.of.at.Load()), func() bool { return sub.clock.since(ended) })
		}
		var longest time.Duration
		for _, sub := range touched {
			gaps = append(gaps, sub.clock.longestGap())
			longest = max(longest, sub.clock.longestGap())
			if sub.clock.longestGap() > time.Second {
				t.Logf("step %d: %s (now on %s) went %v without video from %s (now on %s)", step+1, sub.who.id, *sub.who.at.Load(),
					sub.clock.longestGap().Round(10*time.Millisecond), sub.of.id, *sub.of.at.Load())
			}
		}
		t.Logf("step %d: %s took %v; %d subscriptions touched, longest video gap %v; all back %v after it began",
			step+1, map[bool]string{false: "the drain", true: "the crash"}[crash], ended.Sub(began).Round(10*time.Millisecond),
			len(touched), longest.Round(10*time.Millisecond), time.Since(began).Round(10*time.Millisecond))
	}

	for _, r := range rollers {
		if r.c.Connection().ID != r.id || (r.pub != nil && r.pub.StreamID() == "") {
			t.Errorf("%s is %s now", r.id, r.c.Connection().ID)
		}
		bad := []signaling.Type{signaling.TypeConnectionDestroyed, signaling.TypeStreamDestroyed, signaling.TypeSessionDisconnected}
		if !crash {
			bad = append(bad, client.TypeReconnecting)
		}
		if ev := r.log.of(bad...); len(ev) > 0 {
			t.Errorf("%s saw %+v", r.id, ev)
		}
	}
	slices.Sort(gaps)
	pct := func(p int) time.Duration { return gaps[(len(gaps)-1)*p/100].Round(10 * time.Millisecond) }
	t.Logf("video gaps of the %d touched subscriptions over 3 steps: p50 %v, p95 %v, max %v", len(gaps), pct(50), pct(95), pct(100))
	return gaps
}
