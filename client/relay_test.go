package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// TestRelayedPublishSubscribe has one Go client publish to two others in a
// relayed session: the media goes peer to peer, each subscriber on its own
// peer connection, and the server's engine carries none of it.
func TestRelayedPublishSubscribe(t *testing.T) {
	srv := newServerMode(t, crossbar.Relayed)
	alice := srv.connect(crossbar.RolePublisher, "alice")
	bob := srv.connect(crossbar.RoleSubscriber, "bob")
	carol := srv.connect(crossbar.RoleSubscriber, "carol")
	mod := srv.connect(crossbar.RoleModerator, "mod")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if !alice.Relayed() {
		t.Fatal("the client does not know the session is relayed")
	}

	pub, err := alice.Publish(ctx, client.PublishOptions{Name: "camera", Audio: true, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	synthesize(t, pub)
	if st, err := pub.WaitCreated(ctx); err != nil || st.Name != "camera" {
		t.Fatalf("stream %+v, %v", st, err)
	}
	subs := map[string]*client.Subscriber{}
	for who, c := range map[string]*client.Session{"bob": bob, "carol": carol} {
		waitEvent(t, c, "streamCreated", streamEvent(signaling.TypeStreamCreated, pub.StreamID()))
		sub, err := c.Subscribe(ctx, pub.StreamID(), client.SubscribeOptions{Audio: true, Video: true})
		if err != nil {
			t.Fatal(err)
		}
		subs[who] = sub
	}
	for who, sub := range subs {
		waitPackets(t, who, sub, audio, 50)
		waitPackets(t, who, sub, video, 30)
	}
	if st := srv.session.Streams(); len(st) != 1 || st[0].Publisher() != nil {
		t.Fatalf("the server has media of the relayed stream: %v", st)
	}
	relays := func(c *client.Session) func() int { return func() int { return client.RelayedPeerConnections(c) } }
	if n := relays(alice)(); n != 2 {
		t.Errorf("alice has %d relayed peer connections, want one per subscriber", n)
	}
	if n := client.UnroutedPackets(bob) + client.UnroutedPackets(carol); n != 0 {
		t.Errorf("%d packets no subscription wanted", n)
	}

	// subscribeToVideo(false) stops bob's video locally, not carol's.
	if err := subs["bob"].SubscribeToVideo(ctx, false); err != nil {
		t.Fatal(err)
	}
	stopped(t, "bob", subs["bob"], video)
	waitPackets(t, "carol", subs["carol"], video, 10)
	if err := subs["bob"].SubscribeToVideo(ctx, true); err != nil {
		t.Fatal(err)
	}
	waitPackets(t, "bob", subs["bob"], video, 10)

	// publishVideo(false) stops the video on every peer connection.
	if err := pub.PublishVideo(ctx, false); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, bob, "hasVideo false", streamEvent(signaling.TypeStreamPropertyChanged, pub.StreamID()))
	if ev.Change.Property != "hasVideo" || ev.Stream.HasVideo {
		t.Fatalf("property change %+v", ev.Change)
	}
	stopped(t, "carol", subs["carol"], video)
	if err := pub.PublishVideo(ctx, true); err != nil {
		t.Fatal(err)
	}
	waitPackets(t, "carol", subs["carol"], video, 10)

	// The server cannot mute a relayed stream: the publisher does.
	if err := mod.ForceMuteStream(ctx, pub.StreamID()); err != nil {
		t.Fatal(err)
	}
	stopped(t, "bob", subs["bob"], audio)
	waitPackets(t, "bob", subs["bob"], video, 10)

	// bob unsubscribing closes his peer connection only.
	if err := subs["bob"].Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice to close bob's peer connection", func() bool { return relays(alice)() == 1 && relays(bob)() == 0 })
	waitPackets(t, "carol", subs["carol"], video, 10)

	// A subscriber leaving closes its peer connection too.
	dave := srv.connect(crossbar.RoleSubscriber, "dave")
	daveSub, err := dave.Subscribe(ctx, pub.StreamID(), client.SubscribeOptions{Audio: true, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	waitPackets(t, "dave", daveSub, video, 10)
	if n := relays(alice)(); n != 2 {
		t.Errorf("alice has %d relayed peer connections with carol and dave", n)
	}
	dave.Disconnect()
	waitFor(t, "alice to close dave's peer connection", func() bool { return relays(alice)() == 1 })

	// The stream's end ends carol's subscription.
	if err := pub.Unpublish(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-subs["carol"].Done():
	case <-time.After(5 * time.Second):
		t.Fatal("carol's subscription did not end with the stream")
	}
	if !errors.Is(subs["carol"].Err(), client.ErrSubscriptionEnded) {
		t.Errorf("carol's subscription ended with %v", subs["carol"].Err())
	}
	waitFor(t, "every relayed peer connection closed", func() bool { return relays(alice)() == 0 && relays(carol)() == 0 })
}
