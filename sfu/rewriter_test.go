package sfu

import (
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

// feed rewrites packets seq0, seq0+1, ... (count of them) with a timestamp
// step per packet and one packet per 20 ms, checking that the output
// continues from the previous output without a hole.
func feed(t *testing.T, r *rewriter, seq0 uint16, ts0 uint32, count int, tsStep uint32, now0 int64) (lastSeq uint16, lastTS uint32) {
	t.Helper()
	for i := 0; i < count; i++ {
		seq, ts, ok := r.rewrite(seq0+uint16(i), ts0+uint32(i)*tsStep, now0+int64(i)*20*ms)
		if !ok {
			t.Fatalf("packet %d dropped", i)
		}
		if i > 0 {
			if seq != lastSeq+1 {
				t.Fatalf("packet %d: seq %d after %d", i, seq, lastSeq)
			}
			if ts-lastTS != tsStep {
				t.Fatalf("packet %d: ts %d after %d, want step %d", i, ts, lastTS, tsStep)
			}
		}
		lastSeq, lastTS = seq, ts
	}
	return lastSeq, lastTS
}

func TestRewriterFirstPacket(t *testing.T) {
	r := newRewriter(90000, 1000, 5000)
	seq, ts, ok := r.rewrite(42, 123456, 0)
	if !ok || seq != 1000 || ts != 5000 {
		t.Fatalf("first packet = %d, %d, %v; want 1000, 5000, true", seq, ts, ok)
	}
}

func TestRewriterSequenceWraparound(t *testing.T) {
	// Input and output both wrap their 16-bit sequence numbers.
	r := newRewriter(90000, 65530, 0)
	lastSeq, _ := feed(t, &r, 65520, 0, 40, 3000, 0)
	first := uint16(65530)
	if want := first + 39; lastSeq != want {
		t.Fatalf("last seq %d, want %d", lastSeq, want)
	}
}

func TestRewriterTimestampWraparound(t *testing.T) {
	// Input timestamps wrap, output timestamps wrap.
	r := newRewriter(90000, 0, 4294967295-5000)
	_, lastTS := feed(t, &r, 100, 4294967295-2000, 10, 3000, 0)
	first := uint32(4294967295 - 5000)
	if want := first + 9*3000; lastTS != want {
		t.Fatalf("last ts %d, want %d", lastTS, want)
	}
}

func TestRewriterPauseResumeSameSource(t *testing.T) {
	r := newRewriter(90000, 10, 1000)
	lastSeq, lastTS := feed(t, &r, 500, 90000, 10, 3000, 0)
	// 50 packets are not forwarded (paused); the source goes on.
	for i := 0; i < 50; i++ {
		r.gap()
	}
	seq, ts, ok := r.rewrite(500+10+50, 90000+60*3000, 60*20*ms)
	if !ok {
		t.Fatal("resumed packet dropped")
	}
	if seq != lastSeq+1 {
		t.Fatalf("resumed seq %d, want %d", seq, lastSeq+1)
	}
	// The source's own timeline is kept: 51 packets of 3000 ticks later.
	if ts != lastTS+51*3000 {
		t.Fatalf("resumed ts %d, want %d", ts, lastTS+51*3000)
	}
	// Packets from before the pause are dropped, later ones continue.
	if _, _, ok := r.rewrite(505, 0, 61*20*ms); ok {
		t.Fatal("packet from the previous segment forwarded")
	}
	feed(t, &r, 561, 90000+61*3000, 5, 3000, 61*20*ms)
}

func TestRewriterSwitchSource(t *testing.T) {
	r := newRewriter(90000, 100, 7000)
	lastSeq, lastTS := feed(t, &r, 30000, 1<<31, 10, 3000, 0)
	r.switchSource()
	// The new source has unrelated numbers; 100 ms pass since the last packet.
	now := 9*20*ms + 100*ms
	seq, ts, ok := r.rewrite(7, 42, now)
	if !ok || seq != lastSeq+1 {
		t.Fatalf("switched seq %d ok=%v, want %d", seq, ok, lastSeq+1)
	}
	if want := lastTS + 9000; ts != want { // 100 ms at 90 kHz
		t.Fatalf("switched ts %d, want %d", ts, want)
	}
	feed(t, &r, 8, 42+3000, 5, 3000, now+20*ms)
}

func TestRewriterResumeWithOlderTimestamp(t *testing.T) {
	// A same-source timeline that would go backwards falls back to the clock.
	r := newRewriter(48000, 0, 0)
	_, lastTS := feed(t, &r, 0, 100000, 5, 960, 0)
	r.gap()
	_, ts, _ := r.rewrite(10, 50000, 4*20*ms+20*ms)
	if ts != lastTS+960 {
		t.Fatalf("ts %d, want %d", ts, lastTS+960)
	}
}

func TestRewriterReorderAndSource(t *testing.T) {
	r := newRewriter(90000, 65535, 0)
	for _, in := range []uint16{10, 11, 13, 12, 14} {
		seq, _, ok := r.rewrite(in, uint32(in)*3000, 0)
		if !ok || seq != 65535+(in-10) {
			t.Fatalf("in %d -> %d ok=%v", in, seq, ok)
		}
	}
	for out, want := range map[uint16]uint16{65535: 10, 0: 11, 3: 14} {
		src, tsDelta, ok := r.source(out)
		if !ok || src != want {
			t.Fatalf("source(%d) = %d, %v; want %d", out, src, ok, want)
		}
		if tsDelta != 10*3000 {
			t.Fatalf("tsDelta %d", tsDelta)
		}
	}
	if _, _, ok := r.source(4); ok {
		t.Fatal("source of a packet not yet sent")
	}
	if _, _, ok := r.source(65534); ok {
		t.Fatal("source of a packet before the segment")
	}
}

func TestRewriterTicksSinceLongGap(t *testing.T) {
	r := newRewriter(90000, 0, 0)
	r.rewrite(0, 0, 0)
	r.switchSource()
	_, ts, _ := r.rewrite(5, 5, int64(30*time.Hour))
	ticks := uint64(30*3600) * 90000
	if want := uint32(ticks); ts != want {
		t.Fatalf("ts %d, want %d", ts, want)
	}
}

func TestRewriterLongSegment(t *testing.T) {
	// A segment longer than the sequence number space keeps forwarding, and
	// reordered packets are still accepted.
	r := newRewriter(90000, 0, 0)
	var last uint16
	for i := 0; i < 3*65536; i++ {
		seq, _, ok := r.rewrite(uint16(1000+i), uint32(i)*3000, 0)
		if !ok || (i > 0 && seq != last+1) {
			t.Fatalf("packet %d: seq %d ok=%v after %d", i, seq, ok, last)
		}
		last = seq
	}
	count := 1000 + 3*65536 - 1
	in := uint16(count)
	if seq, _, ok := r.rewrite(in-100, 0, 0); !ok || seq != last-100 {
		t.Fatalf("reordered packet: %d %v", seq, ok)
	}
	if src, _, ok := r.source(last - 30000); !ok || src != in-30000 {
		t.Fatalf("source of an old packet: %d %v", src, ok)
	}
}

func TestRewriterSourceRecent(t *testing.T) {
	r := newRewriter(90000, 65530, 0)
	// Segments of two packets with one dropped between them: 100 101 (102)
	// 103 104 (105) ...
	out := map[uint16]uint16{} // output -> source
	for in := uint16(100); in < 100+3*(pastSegments+2); in++ {
		if in%3 == 0 {
			r.gap()
			continue
		}
		seq, _, ok := r.rewrite(in, uint32(in)*3000, 0)
		if !ok {
			t.Fatalf("in %d dropped", in)
		}
		out[seq] = in
	}
	mapped := 0
	for o, in := range out {
		if _, _, ok := r.source(o); ok && in < 100+3*(pastSegments+1) {
			t.Fatalf("source(%d): an earlier segment mapped", o)
		}
		src, tsDelta, ok := r.sourceRecent(o)
		if !ok {
			continue
		}
		if src != in || tsDelta != r.tsDelta {
			t.Fatalf("sourceRecent(%d) = %d, %d; want %d, %d", o, src, tsDelta, in, r.tsDelta)
		}
		mapped++
	}
	if mapped != 2*(pastSegments+1) {
		t.Fatalf("%d packets mapped, want the current segment's and %d before", mapped, pastSegments)
	}
	// Another source's segments are not.
	r.switchSource()
	r.rewrite(5000, 0, int64(time.Second))
	for o := range out {
		if _, _, ok := r.sourceRecent(o); ok {
			t.Fatalf("sourceRecent(%d) maps a packet of the source before", o)
		}
	}
}

// TestRewriterCountsHoles: source packets that never came leave holes in a
// segment, counted until a late one fills its hole; packets left out on
// purpose (a gap) leave none.
func TestRewriterCountsHoles(t *testing.T) {
	r := newRewriter(90000, 0, 0)
	for _, step := range []struct {
		seq   uint16
		gap   bool // the packets before it were left out on purpose
		holes int64
	}{
		{seq: 10, holes: 0},
		{seq: 11, holes: 0},
		{seq: 15, holes: 3}, // 12-14 never came
		{seq: 13, holes: 2}, // a retransmission fills one
		{seq: 16, holes: 2},
		{seq: 30, gap: true, holes: 2}, // 17-29 left out: the output goes on from 16's
		{seq: 31, holes: 2},
	} {
		if step.gap {
			r.gap()
		}
		if _, _, ok := r.rewrite(step.seq, uint32(step.seq)*3000, 0); !ok {
			t.Fatalf("packet %d dropped", step.seq)
		}
		if r.holes != step.holes {
			t.Fatalf("after packet %d: %d holes, want %d", step.seq, r.holes, step.holes)
		}
	}
}
