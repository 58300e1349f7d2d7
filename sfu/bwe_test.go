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
	// step moves the clock on, with every layer sending at its rate.
	step := func(d0 time.Duration) {
		now += int64(d0)
		for i, l := range s.layers {
			l.lastPacket.Store(now)
			l.meter.rate.Store(rates[i])
			l.meter.last.Store(now)
		}
	}
	check := func(what string, target int, off bool) {
		t.Helper()
		d.mu.Lock()
		d.selectLayer(now)
		gotTarget, gotOff := d.target, d.videoOff
		d.mu.Unlock()
		if int(gotTarget) != target || gotOff != off {
			t.Fatalf("%s (at %v): target %d, video off %v; want %d, %v", what, time.Duration(now-t0), gotTarget, gotOff, target, off)
		}
	}
	step(0)
	check("no estimate: no limit", 2, false)
	d.onREMB(700_000, now)
	check("700 kbps", 1, false)
	step(time.Second)
	d.onREMB(100_000, now) // congestion
	check("100 kbps: audio only", -1, true)
	step(time.Second)
	d.onREMB(100_000, now)
	check("still 100 kbps, no probe yet", -1, true)
	step(time.Second + 100*time.Millisecond)
	d.onREMB(110_000, now)
	check("probe of the lowest layer", 0, false)
	step(probeFor)
	d.onREMB(120_000, now)
	check("the probe held: kept", 0, false)
	step(time.Second)
	d.onREMB(130_000, now)
	check("kept past the probe", 0, false)
	// Probes of layer 1: the first fails, the next comes twice as late.
	step(probeBackoffMin)
	d.onREMB(140_000, now)
	check("probe of layer 1", 1, false)
	step(500 * time.Millisecond)
	d.onREMB(60_000, now) // it does not fit
	check("failed probe: back to audio only", -1, true)
	step(time.Second)
	d.onREMB(200_000, now)
	check("layer 0 fits again", 0, false)
	step(2 * time.Second) // 3 s after the failure
	d.onREMB(200_000, now)
	check("backoff doubled: no probe yet", 0, false)
	step(time.Second) // 4 s after
	d.onREMB(200_000, now)
	check("next probe", 1, false)
	// Loss over 10% in a receiver report is congestion too.
	d.fractionLost.Store(60)
	step(200 * time.Millisecond)
	check("loss: probe dropped", 0, false)
	d.fractionLost.Store(0)
	// An old estimate no longer limits.
	step(rembValidFor + time.Second)
	check("estimate expired", 2, false)
}
