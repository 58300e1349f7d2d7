package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

func TestBandwidthAdaptation(t *testing.T) {
	s := newSimulcastSource(t, 3)
	rec := &recorder{}
	d := attach(t, s.group, rec, SubscribeOptions{})
	t0 := time.Now().UnixNano()
	now := t0
	rates := []uint64{150_000, 500_000, 1_500_000}
	// at moves the clock to t0+ms, with every layer sending at its rate.
	at := func(ms int) {
		now = t0 + int64(ms)*int64(time.Millisecond)
		for i, l := range s.layers {
			l.lastPacket.Store(now)
			l.meter.rate.Store(rates[i])
			l.meter.last.Store(now)
		}
	}
	// probing checks the selection and the rate of the probe's copies
	// (bits/s); the DownTrack is then taken to forward the layer selected.
	probing := func(what string, target int, off bool, probeRate uint64) {
		t.Helper()
		d.mu.Lock()
		d.selectLayer(now)
		gotTarget, gotOff, gotRate := d.sel.target, d.sel.videoOff, d.probeRate
		d.sel.current = d.sel.target
		d.mu.Unlock()
		if int(gotTarget) != target || gotOff != off || gotRate != probeRate {
			t.Fatalf("%s (at %v): target %d, video off %v, probe %d bps; want %d, %v, %d", what, time.Duration(now-t0), gotTarget, gotOff, gotRate, target, off, probeRate)
		}
	}
	check := func(what string, target int, off bool) {
		t.Helper()
		probing(what, target, off, 0)
	}
	var lost, highest uint32
	d.onLoss(lost, highest)
	lossy := func() { lost, highest = lost+25, highest+100; d.onLoss(lost, highest) }
	at(0)
	check("no congestion: no limit", 2, false)
	d.onREMB(300_000)
	check("a low estimate alone is no congestion", 2, false)
	lossy()
	check("loss: one layer down", 1, false)
	at(1500)
	lossy()
	check("loss just after a step down is about the layer before", 1, false)
	at(2100)
	lossy()
	check("loss again: down again", 0, false)
	at(4200)
	lossy()
	check("loss on the lowest layer once: the video stays", 0, false)
	at(6300)
	lossy()
	check("twice in a row: audio only", -1, true)
	at(10100)
	check("no probe within 4 s", -1, true)
	at(10400)
	check("probe of the lowest layer", 0, false)
	at(12500)
	lossy()
	check("congestion during the probe: audio only again", -1, true)
	at(20400)
	check("backoff doubled: no probe within 8 s", -1, true)
	at(20600)
	check("probe", 0, false)
	at(23700)
	check("probe held for 3 s: kept", 0, false)
	// Higher layers are probed with copies of the video up to their rate.
	at(24800)
	probing("probe for layer 1, a second later: copies start at an eighth", 0, false, (500_000*9/8-150_000)/8)
	at(25800)
	probing("copies at half the rate after 1 s", 0, false, (500_000*9/8-150_000)/2)
	at(27100)
	probing("copies at the full rate after 2 s", 0, false, 500_000*9/8-150_000)
	at(27900)
	check("layer 1 kept", 1, false)
	at(29000)
	probing("probe for layer 2", 1, false, (1_500_000*9/8-500_000)/8)
	// NACKs for over 10% of the packets end a probe.
	d.packetsOut.Add(100)
	d.nacksHeld.Add(12)
	at(29300)
	check("NACKs during the probe", 1, false)
	at(37100)
	check("no probe within 8 s", 1, false)
	at(37400)
	probing("probe for layer 2 again", 1, false, (1_500_000*9/8-500_000)/8)
	at(40500)
	check("layer 2 kept", 2, false)

	at(41100)
	check("layer 2 sent", 2, false)

	// A REMB falling below the bitrate sent is congestion.
	at(42100)
	d.onREMB(1_000_000)
	d.onREMB(500_000)
	check("estimate fell", 1, false)

	// So are NACKs for over 20% of the packets.
	at(44200)
	check("new NACK window", 1, false)
	d.packetsOut.Add(100)
	d.nacksHeld.Add(21)
	at(44800)
	check("NACKs", 0, false)
}

func TestProbeCopiesAreDuplicates(t *testing.T) {
	s := newSimulcastSource(t, 1)
	rec := &recorder{}
	d := attach(t, s.group, rec, SubscribeOptions{QueueSize: 1024})
	s.frames(10, 0)
	waitFor(t, time.Second, "20 packets", func() bool { return len(rec.snapshot()) == 20 })
	d.mu.Lock()
	d.probeRate, d.probeAt = 2_000_000, time.Now().UnixNano() // far more than the video
	d.mu.Unlock()
	s.frames(10)
	d.mu.Lock()
	d.probeRate = 0
	d.mu.Unlock()
	waitFor(t, time.Second, "copies", func() bool { return len(rec.snapshot()) > 40 })
	time.Sleep(50 * time.Millisecond)
	pkts := rec.snapshot()
	seen := map[uint16]bool{}
	var distinct []rtp.Packet
	for _, p := range pkts {
		if !seen[p.SequenceNumber] {
			seen[p.SequenceNumber] = true
			distinct = append(distinct, p)
		}
	}
	if len(distinct) != 40 {
		t.Fatalf("%d distinct packets, want 40", len(distinct))
	}
	checkVP8Continuous(t, distinct)
	if out := d.Stats().PacketsOut; out != 40 {
		t.Fatalf("PacketsOut %d counts the copies; want 40", out)
	}
	t.Logf("%d packets written for 40", len(pkts))
}

// TestPublishersLossIsNotCongestion: what a subscriber lost because its
// publisher's link lost it (holes in the stream forwarded, NACKs for
// packets the engine never had) is no sign of congestion on the
// subscriber's path; its own loss is.
func TestPublishersLossIsNotCongestion(t *testing.T) {
	tr := NewLocalTrack("v", vp8Codec)
	d := attach(t, tr, &recorder{}, SubscribeOptions{})
	congested := func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		c := d.bwe.congested
		d.bwe.congested = false
		return c
	}
	d.onLoss(0, 0)
	// 100 packets sent, every third lost on the publisher's link.
	seq := uint16(1)
	for i := range 100 {
		if err := tr.WriteRTP(vp8(seq, uint32(i/3)*3000, i%3 == 0, i == 0, i%3 == 2)); err != nil {
			t.Fatal(err)
		}
		seq += 1 + uint16(i%3/2)
	}
	d.mu.Lock()
	holes := d.rw.holes
	d.mu.Unlock()
	if holes < 30 {
		t.Fatalf("%d holes in the stream forwarded, want the publisher's 33", holes)
	}
	d.onLoss(uint32(holes), 133)
	if congested() {
		t.Fatal("the publisher's loss was taken for congestion")
	}
	d.onLoss(uint32(holes)+20, 266) // 20 of its own in 133
	if !congested() {
		t.Fatal("the subscriber's own loss of 15% was not taken for congestion")
	}
	// Source packet 4 never came; 5 did.
	d.mu.Lock()
	hole, held := 4-d.rw.seqDelta, 5-d.rw.seqDelta
	d.mu.Unlock()
	d.answerNACK(&rtcp.TransportLayerNack{Nacks: []rtcp.NackPair{{PacketID: hole}, {PacketID: held}}}, time.Now())
	if got := d.nacksHeld.Load(); got != 1 {
		t.Fatalf("%d NACKs counted of one for a packet the engine never had and one for a packet it has, want 1", got)
	}
}
