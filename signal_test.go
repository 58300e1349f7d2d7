package crossbar_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// drain reads a raw client's messages until its transport ends, counting
// signals, and reports whether the server disconnected it.
func drain(ws signaling.Transport, signals *atomic.Int64, disconnected *atomic.Bool) {
	for {
		b, err := ws.ReadMessage(context.Background())
		if err != nil {
			return
		}
		m, err := signaling.Decode(b)
		if err != nil {
			continue
		}
		switch m.Type {
		case signaling.TypeSignal:
			signals.Add(1)
		case signaling.TypeSessionDisconnected:
			disconnected.Store(true)
		}
	}
}

// One token's connections share one signal budget: a client that opens two
// connections and broadcasts 48 signals of 8 kB a second (under the
// per-connection message rate) gets most of them refused, and the others
// in the session receive no more than the budget allows.
func TestBroadcastSignalsAreBudgeted(t *testing.T) {
	h := newHarness(t, crossbar.Config{})
	s := h.session()
	var victimSignals atomic.Int64
	var victimOut atomic.Bool
	victim := rawJoin(t, h, s, crossbar.RolePublisher)
	go drain(victim.ws, &victimSignals, &victimOut)

	tok := h.token(s, crossbar.RoleSubscriber, "flooder")
	var attackers []*signaling.WebSocket
	for range 2 {
		ws := dialRaw(t, h.ws)
		send(t, ws, &signaling.Message{Type: signaling.TypeConnect, ID: 1, Token: tok})
		if m := read(t, ws); m.Type != signaling.TypeConnected {
			t.Fatalf("connect: %+v", m)
		}
		attackers = append(attackers, ws)
	}
	var ok, limited atomic.Int64
	for _, ws := range attackers {
		go func() {
			for {
				b, err := ws.ReadMessage(context.Background())
				if err != nil {
					return
				}
				m, _ := signaling.Decode(b)
				switch {
				case m == nil || m.Re == 0:
				case m.Type == signaling.TypeOK:
					ok.Add(1)
				case m.Type == signaling.TypeError && m.Error.Code == 1560:
					limited.Add(1)
				}
			}
		}()
	}
	data := strings.Repeat("z", crossbar.MaxSignalData)
	const seconds = 3
	start := time.Now()
	tick := time.NewTicker(time.Second / 48)
	defer tick.Stop()
	for i := range 48 * seconds {
		<-tick.C // the attacker's pace, just under 50 messages a second
		send(t, attackers[i%2], &signaling.Message{Type: signaling.TypeSignal, ID: uint64(i + 2), Signal: &signaling.Signal{Data: data}})
	}
	elapsed := time.Since(start).Seconds()
	waitFor(t, 10*time.Second, "replies to every signal", func() bool { return ok.Load()+limited.Load() == 48*seconds })

	// 32 KiB/s with bursts of 64 KiB: at most 8 signals at once, then 4 a second.
	cost := float64(len(data) + 64)
	most := int64((64<<10+32<<10*elapsed)/cost) + 1
	t.Logf("%d of %d signals accepted in %.1f s (budget allows %d), %d refused with 1560", ok.Load(), 48*seconds, elapsed, most, limited.Load())
	if ok.Load() > most || ok.Load() < 8 {
		t.Fatalf("%d signals accepted, want 8 to %d", ok.Load(), most)
	}
	waitFor(t, 10*time.Second, "the victim to receive the accepted signals", func() bool { return victimSignals.Load() == ok.Load() })
	if victimOut.Load() || len(s.Connections()) != 3 {
		t.Fatalf("the victim was disconnected (%v) or the session has %d connections", victimOut.Load(), len(s.Connections()))
	}
}

// A session's broadcast budget counts every recipient: a broadcast to many
// can be refused where a signal to one goes through.
func TestBroadcastBudgetCountsRecipients(t *testing.T) {
	h := newHarness(t, crossbar.Config{Signals: crossbar.SignalLimits{PerToken: -1, PerAddress: -1, Broadcast: 64 << 10}})
	s := h.session()
	sender := h.connect(s, crossbar.RolePublisher, "sender")
	var last string
	for range 9 {
		c := rawJoin(t, h, s, crossbar.RoleSubscriber)
		var n atomic.Int64
		var out atomic.Bool
		go drain(c.ws, &n, &out)
		last = c.id
	}
	data := strings.Repeat("b", crossbar.MaxSignalData)
	ctx := context.Background()
	if err := sender.Signal(ctx, "", "", data); err != nil {
		t.Fatalf("first broadcast (10 x 8 kB of a 128 kB burst): %v", err)
	}
	if err := sender.Signal(ctx, "", "", data); errorCode(err) != 1560 {
		t.Fatalf("second broadcast: %v, want 1560", err)
	}
	if err := sender.Signal(ctx, last, "", data); err != nil {
		t.Fatalf("a signal to one connection: %v", err)
	}
}
