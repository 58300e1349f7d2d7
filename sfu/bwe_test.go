package sfu

import (
	"testing"
	"time"
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
		gotTarget, gotOff, gotRate := d.target, d.videoOff, d.probeRate
		d.current = d.target
		d.mu.Unlock()
		if int(gotTarget) != target || gotOff != off || gotRate != probeRate {
			t.Fatalf("%s (at %v): target %d, video off %v, probe %d bps; want %d, %v, %d", what, time.Duration(now-t0), gotTarget, gotOff, gotRate, target, off, probeRate)
		}
	}
	check := func(what string, target int, off bool) {
		t.Helper()
		probing(what, target, off, 0)
	}
	lossy := func() { d.onLoss(60) }
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
	check("loss on the lowest layer: audio only", -1, true)
	at(8000)
	check("no probe within 4 s", -1, true)
	at(8300)
	check("probe of the lowest layer", 0, false)
	at(10400)
	lossy()
	check("congestion during the probe: audio only again", -1, true)
	at(18300)
	check("backoff doubled: no probe within 8 s", -1, true)
	at(18500)
	check("probe", 0, false)
	at(21600)
	check("probe held for 3 s: kept", 0, false)
	// Higher layers are probed with copies of the video up to their rate.
	at(22700)
	probing("probe for layer 1, a second later: copies start at an eighth", 0, false, (500_000*9/8-150_000)/8)
	at(23700)
	probing("copies at half the rate after 1 s", 0, false, (500_000*9/8-150_000)/2)
	at(25000)
	probing("copies at the full rate after 2 s", 0, false, 500_000*9/8-150_000)
	at(25800)
	check("layer 1 kept", 1, false)
	at(26900)
	probing("probe for layer 2", 1, false, (1_500_000*9/8-500_000)/8)
	// NACKs for over 5% of the packets end a probe.
	d.packetsOut.Add(100)
	d.nacksReceived.Add(6)
	at(27200)
	check("NACKs during the probe", 1, false)
	at(35000)
	check("no probe within 8 s", 1, false)
	at(35300)
	probing("probe for layer 2 again", 1, false, (1_500_000*9/8-500_000)/8)
	at(38400)
	check("layer 2 kept", 2, false)

	at(39000)
	check("layer 2 sent", 2, false)

	// A REMB falling below the bitrate sent is congestion.
	at(40000)
	d.onREMB(1_000_000)
	d.onREMB(500_000)
	check("estimate fell", 1, false)

	// So are NACKs for over 10% of the packets.
	at(42100)
	check("new NACK window", 1, false)
	d.packetsOut.Add(100)
	d.nacksReceived.Add(20)
	at(42700)
	check("NACKs", 0, false)
}
