package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/crossbartest"
	"github.com/crossbar-rtc/crossbar/examples/internal/apptest"
)

// The tests in this file check the app's logic with package crossbartest:
// virtual participants, no browser, milliseconds each.

// TestRotationMeetsEveryoneOnce: round after round, each of four people is
// told to watch another's stream, never their own, every stream has one
// watcher a round, and in three rounds everyone meets everyone.
func TestRotationMeetsEveryoneOnce(t *testing.T) {
	l := apptest.NewLogic(t, handler)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	const n = 4
	people := make([]*crossbartest.Participant, n)
	own := map[string]int{} // stream id -> whose
	for i := range people {
		people[i] = l.Join(t, fmt.Sprintf("room=dates&name=P%d", i))
		pub, err := people[i].Publish(ctx, client.PublishOptions{Name: fmt.Sprint("P", i), Video: true})
		if err != nil {
			t.Fatal(err)
		}
		own[pub.StreamID()] = i
	}
	s, err := l.App.Room(ctx, "dates")
	if err != nil {
		t.Fatal(err)
	}
	var r rotator
	met := make([]map[int]bool, n)
	for round := 1; round < n; round++ {
		if told, err := r.rotate(s); err != nil || told != n {
			t.Fatalf("round %d: %d told, %v", round, told, err)
		}
		watched := map[int]bool{}
		for i, p := range people {
			sig, err := p.WaitSignal(ctx, "date")
			if err != nil {
				t.Fatal(err)
			}
			date, ok := own[sig.Data]
			switch {
			case !ok || sig.From != "":
				t.Fatalf("round %d: P%d told to watch %q by %q", round, i, sig.Data, sig.From)
			case date == i:
				t.Errorf("round %d: P%d told to watch itself", round, i)
			case watched[date]:
				t.Errorf("round %d: P%d's stream has two watchers", round, date)
			}
			watched[date] = true
			if met[i] == nil {
				met[i] = map[int]bool{}
			}
			met[i][date] = true
		}
	}
	for i, m := range met {
		if len(m) != n-1 {
			t.Errorf("P%d met %v in %d rounds, want all %d others", i, m, n-1, n-1)
		}
	}
}

// TestNoRotationAlone: one person alone is told nothing.
func TestNoRotationAlone(t *testing.T) {
	l := apptest.NewLogic(t, handler)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p := l.Join(t, "room=solo&name=P")
	if _, err := p.Publish(ctx, client.PublishOptions{Video: true}); err != nil {
		t.Fatal(err)
	}
	s, err := l.App.Room(ctx, "solo")
	if err != nil {
		t.Fatal(err)
	}
	var r rotator
	if told, err := r.rotate(s); err != nil || told != 0 {
		t.Fatalf("alone: %d told, %v", told, err)
	}
}
