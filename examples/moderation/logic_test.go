package main

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/crossbartest"
	"github.com/crossbar-rtc/crossbar/examples/internal/apptest"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// The tests in this file check the app's logic with package crossbartest:
// virtual participants, no browser, milliseconds each.

func logicContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// publish publishes a camera with audio and video for p.
func publish(t *testing.T, ctx context.Context, p *crossbartest.Participant) *client.Publisher {
	t.Helper()
	pub, err := p.Publish(ctx, client.PublishOptions{Name: p.Data(), Audio: true, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// TestTokenRoles: the app hands out publisher and moderator tokens, a
// publisher's by default, and no other role.
func TestTokenRoles(t *testing.T) {
	l := apptest.NewLogic(t, handler)
	for query, want := range map[string]string{
		"room=r&name=Ann":                "publisher",
		"room=r&name=Mod&role=moderator": "moderator",
	} {
		p := l.Join(t, query)
		if caps := p.Client().Capabilities(); p.Client().Connection().Role != want || (caps.ForceDisconnect == 1) != (want == "moderator") {
			t.Errorf("%s: role %q, capabilities %+v; want %s", query, p.Client().Connection().Role, caps, want)
		}
	}
	if code, _ := l.Credentials(t, "room=r&name=Eve&role=subscriber"); code != http.StatusForbidden {
		t.Errorf("a subscriber token: HTTP %d, want 403", code)
	}
}

// TestModeratorMutesUnpublishesDisconnects: what the moderator page does
// reaches the participants, and the others see it.
func TestModeratorMutesUnpublishesDisconnects(t *testing.T) {
	l := apptest.NewLogic(t, handler)
	ctx := logicContext(t)
	mod := l.Join(t, "room=r&name=Mod&role=moderator")
	ann := l.Join(t, "room=r&name=Ann")
	bob := l.Join(t, "room=r&name=Bob")
	st := publish(t, ctx, ann).StreamID()
	if _, err := bob.WaitStreamCreated(ctx); err != nil {
		t.Fatal(err)
	}

	if err := mod.Client().ForceMuteStream(ctx, st); err != nil {
		t.Fatal(err)
	}
	if ev, err := ann.WaitEvent(ctx, signaling.TypeMuteForced); err != nil || ev.StreamID != st {
		t.Fatalf("ann: %s, %v; want her stream muted", crossbartest.Describe(ev), err)
	}
	ev, err := bob.WaitEvent(ctx, signaling.TypeStreamPropertyChanged)
	if err != nil || ev.Change.Property != "hasAudio" || ev.Change.NewValue != false {
		t.Fatalf("bob: %s, %v; want ann's audio off", crossbartest.Describe(ev), err)
	}

	if err := mod.Client().ForceUnpublish(ctx, st); err != nil {
		t.Fatal(err)
	}
	if gone, reason, err := bob.WaitStreamDestroyed(ctx); err != nil || gone.ID != st || reason != "forceUnpublished" {
		t.Fatalf("bob: stream %s destroyed (%s), %v", gone.ID, reason, err)
	}

	if err := mod.Client().ForceDisconnect(ctx, ann.ID()); err != nil {
		t.Fatal(err)
	}
	if reason, err := ann.WaitDisconnected(ctx); err != nil || reason != "forceDisconnected" {
		t.Fatalf("ann: disconnected (%s), %v", reason, err)
	}
	if c, reason, err := bob.WaitConnectionDestroyed(ctx); err != nil || c.ID != ann.ID() || reason != "forceDisconnected" {
		t.Fatalf("bob: connection %s destroyed (%s), %v", c.ID, reason, err)
	}
}

// TestMuteAllCoversLateJoiners: after "mute everyone", a participant who
// joins later is muted as they publish and cannot unmute, until the
// moderator lifts it.
func TestMuteAllCoversLateJoiners(t *testing.T) {
	l := apptest.NewLogic(t, handler)
	ctx := logicContext(t)
	mod := l.Join(t, "room=r&name=Mod&role=moderator")
	if err := mod.Client().ForceMuteAll(ctx); err != nil {
		t.Fatal(err)
	}
	late := l.Join(t, "room=r&name=Late")
	pub := publish(t, ctx, late)
	st, err := mod.WaitStreamCreated(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.HasAudio {
		t.Errorf("a late joiner's stream has audio under mute-all: %+v", st)
	}
	if ev, err := late.WaitEvent(ctx, signaling.TypeMuteForced); err != nil || ev.StreamID != st.ID || ev.Active == nil || !*ev.Active {
		t.Errorf("the late joiner's muteForced: %+v, %v; want its stream's", ev, err)
	}
	var se *signaling.Error
	if err := pub.PublishAudio(ctx, true); !errors.As(err, &se) || se.Code != 1540 {
		t.Errorf("a late joiner unmuted under mute-all: %v, want error 1540", err)
	}
	if err := mod.Client().DisableForceMute(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := late.Wait(ctx, "muteForced lifted", func(ev client.Event) bool {
		return ev.Type == signaling.TypeMuteForced && ev.Active != nil && !*ev.Active
	}); err != nil {
		t.Fatal(err)
	}
	if err := pub.PublishAudio(ctx, true); err != nil {
		t.Errorf("unmute once mute-all is lifted: %v", err)
	}
}

// TestParticipantsCannotModerate: a participant's moderation requests are
// refused with OpenTok's codes.
func TestParticipantsCannotModerate(t *testing.T) {
	l := apptest.NewLogic(t, handler)
	ctx := logicContext(t)
	ann := l.Join(t, "room=r&name=Ann")
	bob := l.Join(t, "room=r&name=Bob")
	st := publish(t, ctx, ann).StreamID()
	for _, c := range []struct {
		what string
		err  error
		code int
	}{
		{"forceDisconnect", bob.Client().ForceDisconnect(ctx, ann.ID()), 1520},
		{"forceUnpublish", bob.Client().ForceUnpublish(ctx, st), 1530},
		{"forceMuteStream", bob.Client().ForceMuteStream(ctx, st), 1540},
		{"forceMuteAll", bob.Client().ForceMuteAll(ctx), 1540},
	} {
		var se *signaling.Error
		if !errors.As(c.err, &se) || se.Code != c.code {
			t.Errorf("%s by a publisher: %v, want error %d", c.what, c.err, c.code)
		}
	}
}
