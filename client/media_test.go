package client_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"
	"github.com/pion/webrtc/v3/pkg/media"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/signaling"
)

const (
	audio = webrtc.RTPCodecTypeAudio
	video = webrtc.RTPCodecTypeVideo
)

// synthesize publishes synthetic media on p until the test ends or the
// stream ends.
func synthesize(t *testing.T, p *client.Publisher) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Synthesize(ctx, client.SynthOptions{}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, client.ErrUnpublished) {
			t.Errorf("synthesize %s: %v", p.StreamID(), err)
		}
	})
}

// reader reads a subscription with ReadRTP and notes when each kind's
// first packet came.
type reader struct {
	mu    sync.Mutex
	start time.Time
	first map[webrtc.RTPCodecType]time.Duration
	err   error
	done  chan struct{}
}

func read(t *testing.T, sub *client.Subscriber, start time.Time) *reader {
	r := &reader{start: start, first: map[webrtc.RTPCodecType]time.Duration{}, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(r.done)
		for {
			_, kind, err := sub.ReadRTP(ctx)
			r.mu.Lock()
			if err != nil {
				r.err = err
				r.mu.Unlock()
				return
			}
			if _, ok := r.first[kind]; !ok {
				r.first[kind] = time.Since(r.start)
			}
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

func (r *reader) firstPacket(kind webrtc.RTPCodecType) (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.first[kind]
	return d, ok
}

// packets returns a subscription's packet count of one kind.
func packets(sub *client.Subscriber, kind webrtc.RTPCodecType) uint64 {
	st := sub.Stats()
	if kind == audio {
		return st.Audio.Packets
	}
	return st.Video.Packets
}

// waitPackets waits until sub has received n more packets of kind.
func waitPackets(t *testing.T, who string, sub *client.Subscriber, kind webrtc.RTPCodecType, n uint64) {
	t.Helper()
	base := packets(sub, kind)
	waitFor(t, who+" receiving "+kind.String(), func() bool { return packets(sub, kind) >= base+n })
}

// stopped checks that sub receives no packets of kind for a while, after
// letting those in flight land.
func stopped(t *testing.T, who string, sub *client.Subscriber, kind webrtc.RTPCodecType) {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	before := packets(sub, kind)
	time.Sleep(time.Second)
	if after := packets(sub, kind); after != before {
		t.Fatalf("%s: %d %s packets arrived after it stopped", who, after-before, kind)
	}
}

func TestPublishSubscribe(t *testing.T) {
	srv := newServer(t)
	alice := srv.connect(crossbar.RolePublisher, "alice")
	bob := srv.connect(crossbar.RoleSubscriber, "bob")
	carol := srv.connect(crossbar.RoleSubscriber, "carol")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Two streams on alice's one publisher peer connection: the second
	// Publish renegotiates it.
	start := time.Now()
	camera, err := alice.Publish(ctx, client.PublishOptions{Name: "camera", Audio: true, Video: true, Width: 160, Height: 120})
	if err != nil {
		t.Fatal(err)
	}
	synthesize(t, camera)
	st, err := camera.WaitCreated(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Publish to streamCreated: %v", time.Since(start))
	if st.Name != "camera" || !st.HasAudio || !st.HasVideo || st.VideoType != "camera" || st.VideoDimensions == nil || st.VideoDimensions.Width != 160 {
		t.Fatalf("announced stream %+v", st)
	}
	screen, err := alice.Publish(ctx, client.PublishOptions{Name: "screen", Audio: true, Video: true, VideoType: "screen"})
	if err != nil {
		t.Fatal(err)
	}
	synthesize(t, screen)
	if _, err := screen.WaitCreated(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client.Session{bob, carol} {
		for _, id := range []string{camera.StreamID(), screen.StreamID()} {
			waitEvent(t, c, "streamCreated "+id, streamEvent(signaling.TypeStreamCreated, id))
		}
	}

	// bob gets both streams and reads them; carol gets the camera only,
	// reads nothing, and her small queue overflows.
	start = time.Now()
	bobCamera, err := bob.Subscribe(ctx, camera.StreamID(), client.SubscribeOptions{Audio: true, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	bobCameraReader := read(t, bobCamera, start)
	bobScreen, err := bob.Subscribe(ctx, screen.StreamID(), client.SubscribeOptions{Audio: true, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	bobScreenReader := read(t, bobScreen, time.Now())
	carolCamera, err := carol.Subscribe(ctx, camera.StreamID(), client.SubscribeOptions{Audio: true, Video: true, QueueSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		who string
		sub *client.Subscriber
	}{{"bob camera", bobCamera}, {"bob screen", bobScreen}, {"carol camera", carolCamera}} {
		waitPackets(t, s.who, s.sub, audio, 50)
		waitPackets(t, s.who, s.sub, video, 30)
	}
	for _, r := range []*reader{bobCameraReader, bobScreenReader} {
		a, _ := r.firstPacket(audio)
		v, _ := r.firstPacket(video)
		t.Logf("Subscribe to first packet: audio %v, video %v", a, v)
		if a == 0 || v == 0 {
			t.Errorf("reader saw audio after %v, video after %v", a, v)
		}
	}
	if c, ok := bobCamera.Codec(video); !ok || c.MimeType != webrtc.MimeTypeVP8 {
		t.Errorf("bob's camera video codec %+v %v", c, ok)
	}
	if c, ok := bobCamera.Codec(audio); !ok || c.MimeType != webrtc.MimeTypeOpus {
		t.Errorf("bob's camera audio codec %+v %v", c, ok)
	}
	if n := client.UnroutedPackets(carol); n != 0 {
		t.Errorf("carol received %d packets of streams she did not subscribe to", n)
	}
	if n := client.UnroutedPackets(bob); n != 0 {
		t.Errorf("bob received %d packets no subscription wanted", n)
	}
	waitFor(t, "carol's queue to overflow", func() bool { return carolCamera.Stats().Dropped > 0 })
	t.Logf("carol camera %+v", carolCamera.Stats())

	// subscribeToVideo(false) stops carol's video, not her audio nor bob's.
	if err := carolCamera.SubscribeToVideo(ctx, false); err != nil {
		t.Fatal(err)
	}
	stopped(t, "carol camera", carolCamera, video)
	waitPackets(t, "carol camera", carolCamera, audio, 20)
	waitPackets(t, "bob camera", bobCamera, video, 10)
	if err := carolCamera.SubscribeToVideo(ctx, true); err != nil {
		t.Fatal(err)
	}
	waitPackets(t, "carol camera", carolCamera, video, 10)

	// publishVideo(false) stops the camera's video for everyone.
	if err := camera.PublishVideo(ctx, false); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, bob, "hasVideo false", streamEvent(signaling.TypeStreamPropertyChanged, camera.StreamID()))
	if ev.Change.Property != "hasVideo" || ev.Change.NewValue != false || ev.Stream.HasVideo {
		t.Fatalf("property change %+v %+v", ev.Change, ev.Stream)
	}
	stopped(t, "bob camera", bobCamera, video)
	if err := camera.PublishVideo(ctx, true); err != nil {
		t.Fatal(err)
	}
	waitPackets(t, "bob camera", bobCamera, video, 10)

	// Unsubscribing stops a stream for its subscriber only.
	if err := bobScreen.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	<-bobScreenReader.done
	if !errors.Is(bobScreenReader.err, client.ErrSubscriptionEnded) {
		t.Errorf("bob's screen reader ended with %v", bobScreenReader.err)
	}
	before := bobScreen.Stats()
	waitPackets(t, "bob camera", bobCamera, video, 10)
	if after := bobScreen.Stats(); after != before {
		t.Errorf("bob's screen subscription counted packets after Unsubscribe: %+v then %+v", before, after)
	}

	// Unpublishing ends the stream for everyone.
	if err := camera.Unpublish(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client.Session{alice, bob, carol} {
		ev := waitEvent(t, c, "streamDestroyed", streamEvent(signaling.TypeStreamDestroyed, camera.StreamID()))
		if ev.Reason != "clientUnpublished" {
			t.Errorf("streamDestroyed reason %q", ev.Reason)
		}
	}
	for _, sub := range []*client.Subscriber{bobCamera, carolCamera} {
		select {
		case <-sub.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("subscription did not end with its stream")
		}
		if !errors.Is(sub.Err(), client.ErrSubscriptionEnded) {
			t.Errorf("subscription ended with %v", sub.Err())
		}
	}
	<-bobCameraReader.done
	if err := camera.WriteSample(audio, silence()); !errors.Is(err, client.ErrUnpublished) {
		t.Errorf("WriteSample after Unpublish: %v", err)
	}
	// The other stream goes on.
	sub, err := carol.Subscribe(ctx, screen.StreamID(), client.SubscribeOptions{Audio: true, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	waitPackets(t, "carol screen", sub, video, 10)
}

func silence() media.Sample {
	return media.Sample{Data: []byte{0xf8, 0xff, 0xfe}, Duration: 20 * time.Millisecond}
}

func TestMediaErrors(t *testing.T) {
	srv := newServer(t)
	alice := srv.connect(crossbar.RolePublisher, "alice")
	viewer := srv.connect(crossbar.RoleSubscriber, "viewer")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if _, err := alice.Publish(ctx, client.PublishOptions{}); err == nil {
		t.Error("Publish without tracks succeeded")
	}
	if _, err := alice.Publish(ctx, client.PublishOptions{Video: true, VideoCodec: webrtc.MimeTypeOpus}); err == nil {
		t.Error("Publish with an audio codec for video succeeded")
	}
	if _, err := alice.Publish(ctx, client.PublishOptions{Video: true, VideoType: "hologram"}); err == nil {
		t.Error("Publish with an unknown video type succeeded")
	}
	_, err := viewer.Publish(ctx, client.PublishOptions{Audio: true})
	var se *signaling.Error
	if !errors.As(err, &se) || se.Code != 1500 {
		t.Errorf("Publish by a subscriber: %v, want code 1500", err)
	}
	for range 2 { // the failed subscription leaves nothing behind
		_, err = viewer.Subscribe(ctx, "no-such-stream", client.SubscribeOptions{Audio: true, Video: true})
		if !errors.As(err, &se) || se.Code != 1535 {
			t.Errorf("Subscribe to a missing stream: %v, want code 1535", err)
		}
	}

	pub, err := alice.Publish(ctx, client.PublishOptions{Audio: true, RTP: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.WriteSample(audio, silence()); err == nil {
		t.Error("WriteSample on an RTP stream succeeded")
	}
	if err := pub.WriteRTP(video, nil); err == nil {
		t.Error("WriteRTP on a stream without video succeeded")
	}
	if err := pub.Synthesize(ctx, client.SynthOptions{}); err == nil {
		t.Error("Synthesize on an RTP stream succeeded")
	}
	if err := pub.PublishVideo(ctx, false); err == nil {
		t.Error("PublishVideo on a stream without video succeeded")
	}
	synth, err := alice.Publish(ctx, client.PublishOptions{Audio: true})
	if err != nil {
		t.Fatal(err)
	}
	synthesize(t, synth)
	if _, err := synth.WaitCreated(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := viewer.Subscribe(ctx, synth.StreamID(), client.SubscribeOptions{Audio: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := viewer.Subscribe(ctx, synth.StreamID(), client.SubscribeOptions{Audio: true}); err == nil {
		t.Error("a second subscription to the same stream succeeded")
	}
}

func TestMuteAndForceUnpublish(t *testing.T) {
	srv := newServer(t)
	alice := srv.connect(crossbar.RolePublisher, "alice")
	bob := srv.connect(crossbar.RoleSubscriber, "bob")
	mod := srv.connect(crossbar.RoleModerator, "mod")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	pub, err := alice.Publish(ctx, client.PublishOptions{Audio: true, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	synthCtx, stop := context.WithCancel(ctx)
	defer stop()
	synthDone := make(chan error, 1)
	go func() { synthDone <- pub.Synthesize(synthCtx, client.SynthOptions{}) }()
	if _, err := pub.WaitCreated(ctx); err != nil {
		t.Fatal(err)
	}
	sub, err := bob.Subscribe(ctx, pub.StreamID(), client.SubscribeOptions{Audio: true, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	waitPackets(t, "bob", sub, audio, 20)

	// publishAudio(false): no audio leaves alice; video goes on.
	if err := pub.PublishAudio(ctx, false); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, bob, "hasAudio false", streamEvent(signaling.TypeStreamPropertyChanged, pub.StreamID()))
	if ev.Change.Property != "hasAudio" || ev.Stream.HasAudio {
		t.Fatalf("property change %+v", ev.Change)
	}
	stopped(t, "bob", sub, audio)
	waitPackets(t, "bob", sub, video, 10)
	if err := pub.PublishAudio(ctx, true); err != nil {
		t.Fatal(err)
	}
	waitPackets(t, "bob", sub, audio, 20)

	// A moderator ends the stream: the publisher learns why, its
	// transceivers are released, and the same peer connection publishes
	// again.
	if err := mod.ForceUnpublish(ctx, pub.StreamID()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-pub.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the publisher did not learn of forceUnpublish")
	}
	if err := pub.Err(); !errors.Is(err, client.ErrUnpublished) || !strings.Contains(err.Error(), "forceUnpublished") {
		t.Errorf("publisher ended with %v", err)
	}
	if err := <-synthDone; !errors.Is(err, client.ErrUnpublished) {
		t.Errorf("Synthesize ended with %v", err)
	}
	<-sub.Done()
	if err := pub.Unpublish(ctx); err != nil {
		t.Errorf("Unpublish after forceUnpublish: %v", err)
	}
	again, err := alice.Publish(ctx, client.PublishOptions{Audio: true, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	synthesize(t, again)
	if _, err := again.WaitCreated(ctx); err != nil {
		t.Fatal(err)
	}
	sub, err = bob.Subscribe(ctx, again.StreamID(), client.SubscribeOptions{Audio: true, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	waitPackets(t, "bob", sub, video, 10)
}

func TestSessionEndClosesMedia(t *testing.T) {
	srv := newServer(t)
	alice := srv.connect(crossbar.RolePublisher, "alice")
	bob := srv.connect(crossbar.RoleSubscriber, "bob")
	mod := srv.connect(crossbar.RoleModerator, "mod")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	pub, err := alice.Publish(ctx, client.PublishOptions{Audio: true, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	synthesize(t, pub)
	if _, err := pub.WaitCreated(ctx); err != nil {
		t.Fatal(err)
	}
	sub, err := bob.Subscribe(ctx, pub.StreamID(), client.SubscribeOptions{Audio: true, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	r := read(t, sub, time.Now())
	waitPackets(t, "bob", sub, video, 10)

	// bob leaves: his reader ends.
	if err := bob.Disconnect(); err != nil {
		t.Fatal(err)
	}
	<-r.done
	if !errors.Is(r.err, client.ErrDisconnected) {
		t.Errorf("bob's reader ended with %v", r.err)
	}
	if _, err := bob.Subscribe(ctx, pub.StreamID(), client.SubscribeOptions{Audio: true}); !errors.Is(err, client.ErrDisconnected) {
		t.Errorf("Subscribe after Disconnect: %v", err)
	}

	// The server ends alice's connection: her stream ends with it.
	if err := mod.ForceDisconnect(ctx, alice.Connection().ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-pub.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the publisher did not end with the session")
	}
	if err := pub.Err(); !strings.Contains(err.Error(), "forceDisconnected") {
		t.Errorf("publisher ended with %v", err)
	}
	if _, err := alice.Publish(ctx, client.PublishOptions{Audio: true}); !errors.Is(err, client.ErrDisconnected) {
		t.Errorf("Publish after the session ended: %v", err)
	}
}
