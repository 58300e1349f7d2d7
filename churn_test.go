package crossbar_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
)

// Connections, host publishers and recorders come and go at random for a
// while. Every stream is destroyed exactly once, the session ends empty, and
// nothing leaks (TestMain checks goroutines).
func TestChurn(t *testing.T) {
	h := newHarness(t, crossbar.Config{ReconnectGrace: -1})
	s := h.session()
	var mu sync.Mutex
	created, destroyed := map[string]int{}, map[string]int{}
	s.OnStreamCreated(func(st *crossbar.Stream) { mu.Lock(); created[st.ID()]++; mu.Unlock() })
	s.OnStreamDestroyed(func(st *crossbar.Stream, _ crossbar.Reason) { mu.Lock(); destroyed[st.ID()]++; mu.Unlock() })

	rng := rand.New(rand.NewPCG(1, 2))
	var clients []*client.Session
	var pubs []*crossbar.Publisher
	var recs []*crossbar.Subscriber
	ctx := context.Background()
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(deadline) && i < 2000; i++ {
		switch rng.IntN(7) {
		case 0:
			c, err := client.Connect(ctx, h.ws, h.token(s, crossbar.RoleModerator, "c"), nil)
			if err != nil {
				t.Fatal(err)
			}
			clients = append(clients, c)
		case 1:
			if len(clients) > 0 {
				k := rng.IntN(len(clients))
				clients[k].Disconnect()
				clients = append(clients[:k], clients[k+1:]...)
			}
		case 2:
			p, err := s.Publish(crossbar.PublishOptions{Audio: opus, Video: vp8})
			if err != nil {
				t.Fatal(err)
			}
			pubs = append(pubs, p)
		case 3:
			if len(pubs) > 0 {
				k := rng.IntN(len(pubs))
				pubs[k].Unpublish()
				pubs = append(pubs[:k], pubs[k+1:]...)
			}
		case 4:
			if streams := s.Streams(); len(streams) > 0 {
				if r, err := s.Subscribe(streams[rng.IntN(len(streams))].ID(), crossbar.SubscribeOptions{Audio: true, Video: true}); err == nil {
					recs = append(recs, r)
				}
			}
		case 5:
			// A moderator ends a random stream or connection.
			if len(clients) > 0 {
				mod := clients[rng.IntN(len(clients))]
				if streams := s.Streams(); len(streams) > 0 && rng.IntN(2) == 0 {
					mod.ForceUnpublish(ctx, streams[rng.IntN(len(streams))].ID())
				} else if conns := s.Connections(); len(conns) > 0 {
					mod.ForceDisconnect(ctx, conns[rng.IntN(len(conns))].ID())
				}
			}
		case 6:
			if len(recs) > 0 {
				k := rng.IntN(len(recs))
				recs[k].Close()
				recs = append(recs[:k], recs[k+1:]...)
			}
		}
	}
	for _, c := range clients {
		c.Disconnect()
	}
	for _, p := range pubs {
		p.Unpublish() // an error for those already force-unpublished is fine
	}
	for _, r := range recs {
		r.Close()
	}
	waitConnections(t, s, 0)
	if n := len(s.Streams()); n != 0 {
		t.Fatalf("%d streams left", n)
	}
	poll(5*time.Second, func() bool { // the checks below say what is missing
		mu.Lock()
		defer mu.Unlock()
		return len(created) == len(destroyed)
	})
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d streams created and destroyed", len(created))
	if len(created) < 10 {
		t.Fatalf("only %d streams were created: the churn did too little", len(created))
	}
	for id, n := range created {
		if n != 1 || destroyed[id] != 1 {
			t.Errorf("stream %s created %d times, destroyed %d times", id, n, destroyed[id])
		}
	}
	if len(destroyed) != len(created) {
		t.Errorf("%d streams destroyed, %d created", len(destroyed), len(created))
	}
}
