package sfu

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// idleSubscriber subscribes a ready subscriber to tr without running its
// writer, so that what it queues stays in its queue.
func idleSubscriber(t *testing.T, tr *Track, queueSize int) *DownTrack {
	t.Helper()
	ready := new(atomic.Bool)
	ready.Store(true)
	d := newDownTrack(tr, SubscribeOptions{QueueSize: queueSize}, ready, nil)
	if err := tr.addDownTrack(d); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Bind(fakeContext{ssrc: 4242, writer: discard{}}); err != nil {
		t.Fatal(err)
	}
	return d
}

// drain empties d's queue and returns the output sequence numbers it held.
func drain(d *DownTrack) []uint16 {
	d.mu.Lock()
	defer d.mu.Unlock()
	var seqs []uint16
	for e, ok := d.q.pop(); ok; e, ok = d.q.pop() {
		seqs = append(seqs, e.seq)
	}
	return seqs
}

func nackOf(seqs ...uint16) []rtcp.Packet {
	return []rtcp.Packet{&rtcp.TransportLayerNack{Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)}}
}

func TestNACKAnsweredOncePerRTT(t *testing.T) {
	tr := NewLocalTrack("v", vp8Codec)
	d := idleSubscriber(t, tr, 0)
	writeFrames(t, tr, 100, 0, 4, true)
	sent := drain(d)
	if len(sent) != 12 {
		t.Fatalf("%d packets queued, want 12", len(sent))
	}
	a, b := sent[3], sent[5]
	t0 := time.Now()

	steps := []struct {
		name    string
		rtt     time.Duration
		after   time.Duration
		nacked  []uint16
		resent  []uint16
		skipped uint64 // total so far
	}{
		{"first request", 0, 0, []uint16{a}, []uint16{a}, 0},
		{"repeated at once, with another", 0, 10 * time.Millisecond, []uint16{a, b}, []uint16{b}, 1},
		{"repeated within the default interval", 0, 90 * time.Millisecond, []uint16{a, b}, nil, 3},
		{"repeated after the default interval", 0, 110 * time.Millisecond, []uint16{a}, []uint16{a}, 3},
		{"repeated within a known RTT", 300 * time.Millisecond, 350 * time.Millisecond, []uint16{a, b}, []uint16{b}, 4},
		{"repeated after a known RTT", 300 * time.Millisecond, 420 * time.Millisecond, []uint16{a}, []uint16{a}, 4},
	}
	for _, s := range steps {
		d.rtt.Store(int64(s.rtt))
		d.handleRTCP(nackOf(s.nacked...), t0.Add(s.after))
		got := drain(d)
		if len(got) != len(s.resent) {
			t.Fatalf("%s: resent %v, want %v", s.name, got, s.resent)
		}
		for i := range got {
			if got[i] != s.resent[i] {
				t.Fatalf("%s: resent %v, want %v", s.name, got, s.resent)
			}
		}
		if st := d.Stats(); st.NACKsSkipped != s.skipped {
			t.Fatalf("%s: %d NACKs skipped, want %d", s.name, st.NACKsSkipped, s.skipped)
		}
	}
	if st := d.Stats(); st.NACKsReceived != 9 || st.NACKsAnswered != 5 {
		t.Fatalf("stats %+v, want 9 received, 5 answered", st)
	}
}

func TestNACKNotAnsweredWhenQueueHalfFull(t *testing.T) {
	tr := NewLocalTrack("v", vp8Codec)
	d := idleSubscriber(t, tr, 16)
	writeFrames(t, tr, 100, 0, 2, true) // 6 queued
	d.mu.Lock()
	first := d.q.entries[d.q.head].seq
	d.mu.Unlock()

	// 6 queued: the first two are answered, which makes 8 (half); the next
	// one is answered too (8 is not more than half), then none.
	now := time.Now()
	d.handleRTCP(nackOf(first, first+1, first+2, first+3, first+4), now)
	if st := d.Stats(); st.NACKsAnswered != 3 || st.NACKsSkipped != 2 {
		t.Fatalf("stats %+v, want 3 answered, 2 skipped", st)
	}
	writeFrames(t, tr, 106, 6000, 1, false) // 12 queued now
	d.handleRTCP(nackOf(first+5), now.Add(time.Second))
	if st := d.Stats(); st.NACKsAnswered != 3 || st.NACKsSkipped != 3 {
		t.Fatalf("stats %+v, want 3 answered, 3 skipped", st)
	}
	if n := len(drain(d)); n != 12 {
		t.Fatalf("%d queued, want 12", n)
	}
	// Once the queue drained, NACKs are answered again.
	d.handleRTCP(nackOf(first+5), now.Add(2*time.Second))
	if st := d.Stats(); st.NACKsAnswered != 4 {
		t.Fatalf("stats %+v, want 4 answered", st)
	}
}
