package crossbar_test

import (
	"testing"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// signalOnlyPublish is a routed session's "publish" without media.
func signalOnlyPublish() *signaling.Message {
	return &signaling.Message{Type: signaling.TypePublish, Stream: &signaling.Stream{Name: "cam", HasAudio: true, HasVideo: true, VideoType: "camera"}}
}

// TestSignalOnlyStreamRefusedByDefault: a routed session refuses a
// publish without sdp unless the server allows signal-only streams.
func TestSignalOnlyStreamRefusedByDefault(t *testing.T) {
	h := newHarness(t, crossbar.Config{})
	c := pipeJoin(t, h, h.session(), "ann")
	if r := c.request(signalOnlyPublish()); r.Type != signaling.TypeError || r.Error.Code != 1011 {
		t.Fatalf("publish without media: %+v, want error 1011", r)
	}
}

// TestSignalOnlyStream: with Config.SignalOnlyStreams, a publish without
// media is announced at once, subscribed to without media, and moderated
// and ended as any stream.
func TestSignalOnlyStream(t *testing.T) {
	h := newHarness(t, crossbar.Config{SignalOnlyStreams: true})
	s := h.session()
	ann, bob := pipeJoin(t, h, s, "ann"), pipeJoin(t, h, s, "bob")
	r := ann.request(signalOnlyPublish())
	if r.Type != signaling.TypeOK || r.StreamID == "" || r.SDP != "" {
		t.Fatalf("publish without media: %+v, want ok with a stream id and no sdp", r)
	}
	if m := bob.await(signaling.TypeStreamCreated); m.Stream.ID != r.StreamID || !m.Stream.HasAudio {
		t.Fatalf("bob: %+v", m.Stream)
	}
	if m := bob.request(&signaling.Message{Type: signaling.TypeSubscribe, StreamID: r.StreamID}); m.Type != signaling.TypeOK {
		t.Fatalf("subscribe: %+v", m)
	}
	st, err := s.Stream(r.StreamID)
	if err != nil {
		t.Fatal(err)
	}
	if subs := st.Subscribers(); len(subs) != 1 || subs[0].Connection().ID() != bob.id || subs[0].VideoLayer() != -1 {
		t.Errorf("subscribers %v, want bob's, receiving nothing", subs)
	}
	if st.Publisher().VideoCodec() != "" {
		t.Errorf("a signal-only stream has video %s", st.Publisher().VideoCodec())
	}
	if err := s.ForceMuteStream(r.StreamID); err != nil {
		t.Fatal(err)
	}
	if m := bob.await(signaling.TypeStreamPropertyChanged); m.Change.Property != "hasAudio" || m.Change.NewValue != false {
		t.Errorf("bob: %+v after a forced mute", m.Change)
	}
	if m := ann.request(&signaling.Message{Type: signaling.TypeUnpublish, StreamID: r.StreamID}); m.Type != signaling.TypeOK {
		t.Fatalf("unpublish: %+v", m)
	}
	if m := bob.await(signaling.TypeStreamDestroyed); m.Stream.ID != r.StreamID || m.Reason != "clientUnpublished" {
		t.Errorf("bob: %+v", m)
	}
}
