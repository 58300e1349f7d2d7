package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/crossbartest"
	"github.com/crossbar-rtc/crossbar/examples/internal/apptest"
	"github.com/crossbar-rtc/crossbar/examples/videochat/room"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// The tests in this file check the app's logic with package crossbartest:
// virtual participants, no browser, milliseconds each.

// TestRoomsEveryoneSeesEveryone: three people in a room each see the
// other two's streams, and nobody in another room's; chat reaches
// everyone in the room.
func TestRoomsEveryoneSeesEveryone(t *testing.T) {
	l := apptest.NewLogic(t, room.Handler)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var people []*crossbartest.Participant
	for i := range 3 {
		p := l.Join(t, fmt.Sprintf("room=demo&name=P%d", i))
		if _, err := p.Publish(ctx, client.PublishOptions{Name: p.Data(), Audio: true, Video: true}); err != nil {
			t.Fatal(err)
		}
		people = append(people, p)
	}
	elsewhere := l.Join(t, "room=other&name=X")
	if _, err := elsewhere.Publish(ctx, client.PublishOptions{Audio: true, Video: true}); err != nil {
		t.Fatal(err)
	}
	for _, p := range people {
		seen := map[string]bool{}
		for range 2 {
			st, err := p.WaitStreamCreated(ctx)
			if err != nil {
				t.Fatal(err)
			}
			seen[st.Name] = true
		}
		if seen["X"] || seen[p.Data()] || len(seen) != 2 {
			t.Errorf("%s sees streams %v, want the two others in its room", p.Data(), seen)
		}
	}
	if err := people[0].Signal(ctx, "", "chat", "hello all"); err != nil {
		t.Fatal(err)
	}
	for _, p := range people {
		if sig, err := p.WaitSignal(ctx, "chat"); err != nil || sig.Data != "hello all" {
			t.Fatalf("%s: chat %+v, %v", p.Data(), sig, err)
		}
	}
	for _, ev := range elsewhere.Events() {
		if ev.Type == signaling.TypeSignal || ev.Type == signaling.TypeStreamCreated && ev.Stream.ConnectionID != elsewhere.ID() {
			t.Errorf("another room's participant saw %s", crossbartest.Describe(ev))
		}
	}
}

// TestOnlyPublisherTokens: the room hands out publisher tokens and no
// other role, and a room name is required.
func TestOnlyPublisherTokens(t *testing.T) {
	l := apptest.NewLogic(t, room.Handler)
	for query, want := range map[string]int{
		"room=demo&name=A":                http.StatusOK,
		"room=demo&name=A&role=moderator": http.StatusForbidden,
		"name=A":                          http.StatusBadRequest,
	} {
		if code, _ := l.Credentials(t, query); code != want {
			t.Errorf("token %s: HTTP %d, want %d", query, code, want)
		}
	}
	p := l.Join(t, "room=demo&name=A")
	var se *signaling.Error
	if err := p.Client().ForceMuteAll(context.Background()); !errors.As(err, &se) || se.Code != 1540 {
		t.Errorf("a room participant muted everyone: %v, want error 1540", err)
	}
}
