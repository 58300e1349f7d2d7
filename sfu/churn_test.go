package sfu

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"
	"go.uber.org/goleak"
)

// TestChurn lets publishers and subscribers come and go at random for a few
// seconds while media flows, then closes everything and checks that every
// Track ended, no subscription is left behind and no goroutine leaked.
func TestChurn(t *testing.T) {
	before := goleak.IgnoreCurrent()
	e, err := New(Config{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	var (
		pubs, subs []*testClient
		live       []*Track // published tracks not closed on purpose yet
		all        []*Track
		closed     atomic.Int32
		subsOf     = map[*testClient][]*DownTrack{}
		videoOf    = map[*testClient]*Track{}
		names      int
	)
	pick := func(n int) int { return rng.IntN(n) }
	newClient := func(prefix string) *testClient {
		names++
		return newTestClient(t, e, fmt.Sprintf("%s%d", prefix, names), clientOptions{})
	}
	dropTracks := func(gone func(*Track) bool) {
		kept := live[:0]
		for _, tr := range live {
			if !gone(tr) {
				kept = append(kept, tr)
			}
		}
		live = kept
	}
	ops := map[string]int{}

	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		switch op := pick(9); {
		case op <= 1 && len(pubs) < 4:
			ops["publish"]++
			c := newClient("pub")
			a, v := c.publish()
			for _, tr := range []*Track{a, v} {
				tr.OnClose(func() { closed.Add(1) })
			}
			pubs = append(pubs, c)
			videoOf[c] = v
			live = append(live, a, v)
			all = append(all, a, v)
		case op == 2 && len(pubs) > 0:
			ops["close publisher"]++
			i := pick(len(pubs))
			c := pubs[i]
			pubs = append(pubs[:i], pubs[i+1:]...)
			c.close()
			dropTracks(func(tr *Track) bool { return tr.isClosed.Load() })
		case op == 3 && len(pubs) > 0:
			ops["unpublish video"]++
			c := pubs[pick(len(pubs))]
			if err := c.unpublish(webrtc.RTPCodecTypeVideo); err != nil {
				t.Fatalf("unpublish: %v", err)
			}
			// The engine ends the Track when the renegotiation stops its receiver.
			v := videoOf[c]
			waitFor(t, 5*time.Second, "unpublished track to close", v.isClosed.Load)
			dropTracks(func(tr *Track) bool { return tr == v })
		case (op == 4 || op == 5) && len(live) > 0:
			ops["subscribe"]++
			var c *testClient
			if len(subs) == 0 || pick(3) == 0 {
				c = newClient("sub")
				subs = append(subs, c)
			} else {
				c = subs[pick(len(subs))]
			}
			tr := live[pick(len(live))]
			names++
			d, err := c.peer.Subscribe(tr, SubscribeOptions{TrackID: fmt.Sprintf("t%d", names)})
			switch {
			case errors.Is(err, ErrTrackClosed):
			case err != nil:
				t.Fatalf("subscribe: %v", err)
			default:
				subsOf[c] = append(subsOf[c], d)
			}
		case op == 6 && len(subs) > 0:
			ops["unsubscribe"]++
			c := subs[pick(len(subs))]
			if ds := subsOf[c]; len(ds) > 0 {
				i := pick(len(ds))
				if err := c.peer.Unsubscribe(ds[i]); err != nil && !errors.Is(err, ErrNotSubscribed) {
					t.Fatalf("unsubscribe: %v", err)
				}
				subsOf[c] = append(ds[:i], ds[i+1:]...)
			}
		case op == 7 && len(subs) > 0:
			ops["close subscriber"]++
			i := pick(len(subs))
			c := subs[i]
			subs = append(subs[:i], subs[i+1:]...)
			c.close()
			delete(subsOf, c)
		case op == 8:
			ops["pause/mute"]++
			for _, ds := range subsOf {
				for _, d := range ds {
					if pick(4) == 0 {
						d.SetPaused(!d.Paused())
					}
				}
			}
			if len(live) > 0 {
				tr := live[pick(len(live))]
				tr.SetMuted(!tr.Muted())
			}
		}
		time.Sleep(time.Duration(pick(40)) * time.Millisecond)
	}
	t.Logf("operations: %v; %d tracks published", ops, len(all))

	for _, c := range append(pubs, subs...) {
		c.close()
	}
	waitFor(t, 5*time.Second, "every track to close", func() bool { return int(closed.Load()) == len(all) })
	for _, tr := range all {
		if n := tr.subscriberCount(); n != 0 {
			t.Errorf("track %s/%s still has %d subscribers", tr.StreamID(), tr.ID(), n)
		}
	}
	e.mu.Lock()
	peers := len(e.peers)
	e.mu.Unlock()
	if peers != 0 {
		t.Errorf("%d peers left in the engine", peers)
	}
	if err := e.Close(); err != nil {
		t.Error(err)
	}
	goleak.VerifyNone(t, before)
}

// subscriberCount returns how many DownTracks and Readers receive the Track.
func (t *Track) subscriberCount() int { return len(*t.downTracks.Load()) }
