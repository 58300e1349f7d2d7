//go:build !race

package sfu

import "testing"

// TestForwardDoesNotAllocate checks the hot path: a packet into a Track and
// out to ten subscribers' transports costs no heap allocation, whether it is
// written on the forwarding goroutine or by the subscribers' writers.
func TestForwardDoesNotAllocate(t *testing.T) {
	for _, inline := range []bool{true, false} {
		tr, _, stop := benchTrack(t, 10, inline)
		p := benchPacket()
		write := func() {
			p.SequenceNumber++
			p.Timestamp += 3000
			if err := tr.WriteRTP(p); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < 100; i++ {
			write() // warm up: first keyframe, queues
		}
		if allocs := testing.AllocsPerRun(1000, write); allocs > 0.01 {
			t.Errorf("inline %v: %.2f allocations per forwarded packet, want 0", inline, allocs)
		}
		stop()
	}
}
