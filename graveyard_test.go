package crossbar

import (
	"strconv"
	"testing"
	"time"
)

// A graveyard remembers an id for graveTime, and a burial costs the same
// however many ended lately: 100,000 connections leaving within a minute,
// the leave storm of a large session on every node of a cluster, were
// quadratic when each burial scanned them all (about 2 s for 9,000).
func TestGraveyardLeaveStorm(t *testing.T) {
	const n = 100_000
	var g graveyard
	t0 := time.Now()
	start := time.Now()
	for i := range n {
		g.bury(strconv.Itoa(i), t0.Add(time.Duration(i)*time.Microsecond))
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("%d burials took %v", n, took)
	}
	for _, id := range []string{"0", strconv.Itoa(n - 1)} {
		if !g.has(id) {
			t.Fatalf("%s, buried within the minute, is forgotten", id)
		}
	}

	// A minute after the first half, a burial forgets them, and only them.
	g.bury("late", t0.Add(graveTime+n/2*time.Microsecond))
	if g.has("0") || g.has(strconv.Itoa(n/2-1)) || !g.has(strconv.Itoa(n/2+1)) || !g.has("late") {
		t.Fatal("not the first half forgotten")
	}
	if len(g.ids) != len(g.order) || len(g.ids) > n/2+1 {
		t.Fatalf("%d ids and %d graves remembered, want %d at most", len(g.ids), len(g.order), n/2+1)
	}

	// An id buried again is remembered from its last burial.
	g.bury("late", t0.Add(2*graveTime))
	g.bury("other", t0.Add(2*graveTime+n*time.Microsecond))
	if !g.has("late") {
		t.Fatal("an id buried again was forgotten with its first grave")
	}
}
