package netem_test

import (
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"go.uber.org/goleak"

	"github.com/crossbar-rtc/crossbar/crossbartest/netem"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// send writes n packets of 100 bytes of payload (140 on the wire) of
// stream ssrc through s at once, and returns when each left, in order,
// once s delivered all it will.
func send(t *testing.T, s *netem.Shaper, ssrc uint32, n int) []time.Duration {
	t.Helper()
	i, err := s.NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	left := make(chan time.Duration, n)
	w := i.BindLocalStream(&interceptor.StreamInfo{SSRC: ssrc}, interceptor.RTPWriterFunc(
		func(*rtp.Header, []byte, interceptor.Attributes) (int, error) {
			left <- time.Since(start)
			return 0, nil
		}))
	for seq := range n {
		if _, err := w.Write(&rtp.Header{Version: 2, SSRC: ssrc, SequenceNumber: uint16(seq)}, make([]byte, 100), nil); err != nil {
			t.Fatal(err)
		}
	}
	s.Wait()
	close(left)
	var out []time.Duration
	for d := range left {
		out = append(out, d)
	}
	return out
}

func TestNoConditionsNoImpairment(t *testing.T) {
	if got := send(t, &netem.Shaper{}, 1, 10); len(got) != 10 {
		t.Fatalf("%d packets of 10 left", len(got))
	}
}

func TestLoss(t *testing.T) {
	var s netem.Shaper
	s.Set(netem.Conditions{Loss: 1})
	if got := send(t, &s, 1, 10); len(got) != 0 {
		t.Errorf("%d packets of 10 left with a loss of 1", len(got))
	}
	s.Set(netem.Conditions{Loss: 0.5})
	if got := send(t, &s, 1, 1000); len(got) < 400 || len(got) > 600 {
		t.Errorf("%d packets of 1000 left with a loss of 0.5", len(got))
	}
}

func TestLatency(t *testing.T) {
	var s netem.Shaper
	s.Set(netem.Conditions{Latency: 30 * time.Millisecond})
	got := send(t, &s, 1, 3)
	if len(got) != 3 {
		t.Fatalf("%d packets of 3 left", len(got))
	}
	for _, d := range got {
		if d < 30*time.Millisecond {
			t.Errorf("a packet left after %v, before the latency of 30 ms", d)
		}
	}
}

// TestRate: 140-byte packets at 8 kbit/s leave every 140 ms; those that
// would wait over the 500 ms of queue are dropped. Other streams pass.
func TestRate(t *testing.T) {
	var s netem.Shaper
	s.Set(netem.Conditions{Rate: 8000, SSRCs: []uint32{1}})
	got := send(t, &s, 1, 10)
	if len(got) != 3 {
		t.Fatalf("%d packets of 10 left, at %v; want 3, at 140, 280, 420 ms", len(got), got)
	}
	for i, d := range got {
		if want := time.Duration(i+1) * 140 * time.Millisecond; d < want {
			t.Errorf("packet %d left at %v, before %v", i, d, want)
		}
	}
	if got := send(t, &s, 2, 10); len(got) != 10 {
		t.Errorf("%d packets of 10 of another stream left", len(got))
	}
}
