//go:build linux

package main

import (
	"testing"
	"time"
)

// TestRoomsRun runs two rooms of two, then the same idle: each room's
// publishers receive each other's media only, and the idle run forwards
// nothing in its window.
func TestRoomsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a host app and 8 clients")
	}
	cfg := config{warmup: time.Second, window: 2 * time.Second, bitrate: 500_000, fps: 15}
	for _, name := range []string{"rooms2x2", "idle4"} {
		sc, ok := scenarioNamed(name)
		if !ok {
			t.Fatalf("no scenario %s", name)
		}
		res := runScenario(cfg, sc, 1)
		if res.Error != "" {
			t.Fatalf("%s: %s", name, res.Error)
		}
		if res.Rooms != 2 || res.Participants != 4 || res.Subscriptions != 4 {
			t.Errorf("%s: %d rooms, %d participants, %d subscriptions, want 2, 4, 4", name, res.Rooms, res.Participants, res.Subscriptions)
		}
		if res.JoinP50MS <= 0 || res.PerParticipantKiB <= 0 {
			t.Errorf("%s: join p50 %.1f ms, %.0f KiB a participant", name, res.JoinP50MS, res.PerParticipantKiB)
		}
		switch name {
		case "idle4":
			if res.ForwardedPerSec != 0 || res.PublishedPerSec != 0 {
				t.Errorf("idle: %.0f packets a second in, %.0f forwarded, want none", res.PublishedPerSec, res.ForwardedPerSec)
			}
		default:
			// Every packet in goes to the one other participant of its room.
			if res.PublishedPerSec == 0 || res.ForwardedPerSec < res.PublishedPerSec/2 || res.ForwardedPerSec > res.PublishedPerSec*3/2 {
				t.Errorf("%s: %.0f packets a second in, %.0f forwarded, want about as many", name, res.PublishedPerSec, res.ForwardedPerSec)
			}
		}
	}
}
