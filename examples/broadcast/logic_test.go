package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/examples/internal/apptest"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// The tests in this file check the app's logic with package crossbartest:
// virtual participants, no browser, milliseconds each.

// TestViewersWatchOnly: viewers get subscriber tokens by default: they see
// and subscribe to the host's stream, and cannot publish.
func TestViewersWatchOnly(t *testing.T) {
	l := apptest.NewLogic(t, handler)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	host := l.Join(t, "room=show&name=Host&role=publisher")
	pub, err := host.Publish(ctx, client.PublishOptions{Name: "live", Audio: true, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"V1", "V2"} {
		v := l.Join(t, "room=show&name="+name)
		st, err := v.WaitStreamCreated(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.ID != pub.StreamID() {
			t.Fatalf("%s sees stream %s, want the host's %s", name, st.ID, pub.StreamID())
		}
		if _, err := v.Subscribe(ctx, st.ID); err != nil {
			t.Fatalf("%s: subscribe: %v", name, err)
		}
		var se *signaling.Error
		if _, err := v.Publish(ctx, client.PublishOptions{Video: true}); !errors.As(err, &se) || se.Code != 1500 {
			t.Errorf("%s published: %v, want error 1500", name, err)
		}
	}
	s, err := l.App.Room(ctx, "show")
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Stream(pub.StreamID())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(st.Subscribers()); n != 2 {
		t.Errorf("the host's stream has %d subscribers, want the 2 viewers", n)
	}
}
