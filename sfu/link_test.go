package sfu

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v3"
)

// testLink is a node link from engine a to engine b whose signaling goes
// through channels, as it would through Redis: in order, one message at a
// time.
type testLink struct {
	t        *testing.T
	out      *LinkOut
	in       *LinkIn
	requests chan LinkRequest
	sent     atomic.Int32 // requests carried
	tracks   sync.Map     // the tracks a may export, by id
	mu       sync.Mutex
	offer    string // the latest offer
	stop     chan struct{}
	wg       sync.WaitGroup
}

func newTestLink(t *testing.T, a, b *Engine) *testLink {
	t.Helper()
	l := &testLink{t: t, requests: make(chan LinkRequest, 64), stop: make(chan struct{})}
	var err error
	l.out, err = a.NewLinkOut(LinkOutConfig{
		Lookup: func(id string) *Track {
			tr, _ := l.tracks.Load(id)
			tr2, _ := tr.(*Track)
			return tr2
		},
		OnOffer: l.onOffer,
	})
	if err != nil {
		t.Fatal(err)
	}
	l.in, err = b.NewLinkIn(LinkInConfig{OnRequest: func(r LinkRequest) {
		select {
		case l.requests <- r:
		case <-l.stop:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for {
			select {
			case r := <-l.requests:
				l.sent.Add(1)
				if err := l.out.Request(r); err != nil && !errors.Is(err, ErrUnknownTrack) && !errors.Is(err, ErrLinkClosed) {
					t.Errorf("link request %+v: %v", r, err)
				}
			case <-l.stop:
				return
			}
		}
	}()
	t.Cleanup(l.close)
	return l
}

// onOffer carries an offer to b and its answer back.
func (l *testLink) onOffer(sdp string) {
	l.mu.Lock()
	l.offer = sdp
	l.mu.Unlock()
	answer, err := l.in.Answer(sdp)
	if err != nil {
		if !errors.Is(err, ErrLinkClosed) {
			l.t.Errorf("link answer: %v", err)
		}
		return
	}
	if err := l.out.SetAnswer(answer); err != nil && !errors.Is(err, ErrLinkClosed) {
		l.t.Errorf("link set answer: %v", err)
	}
}

func (l *testLink) export(tracks ...*Track) {
	for _, tr := range tracks {
		l.tracks.Store(tr.ID(), tr)
	}
}

func (l *testLink) importTrack(id string) *Track {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, err := l.in.Import(ctx, id)
	if err != nil {
		l.t.Fatalf("import %q: %v", id, err)
	}
	return tr
}

// exported returns the DownTracks carrying a Track over the link, by layer.
func (l *testLink) exported(id string) []*DownTrack {
	l.out.mu.Lock()
	defer l.out.mu.Unlock()
	if x := l.out.exports[id]; x != nil {
		return x.downs
	}
	return nil
}

func (l *testLink) close() {
	select {
	case <-l.stop:
		return
	default:
	}
	if err := l.in.Close(); err != nil {
		l.t.Errorf("close link in: %v", err)
	}
	if err := l.out.Close(); err != nil {
		l.t.Errorf("close link out: %v", err)
	}
	close(l.stop)
	l.wg.Wait()
}

// linkedSubscribers publishes audio and video on a, imports them on b over
// a link and subscribes n clients of b to them.
func linkedSubscribers(t *testing.T, a, b *Engine, n int) (pub *testClient, link *testLink, audio, video, inAudio, inVideo *Track, subs []*testClient) {
	t.Helper()
	pub = newTestClient(t, a, "pub", clientOptions{})
	audio, video = pub.publish()
	link = newTestLink(t, a, b)
	link.export(audio, video)
	for i := range n {
		sub := newTestClient(t, b, "sub"+string(rune('0'+i)), clientOptions{})
		inAudio, inVideo = link.importTrack(audio.ID()), link.importTrack(video.ID())
		if _, err := sub.peer.SubscribeTracks(
			Subscription{Track: inAudio, Options: SubscribeOptions{StreamID: "s", TrackID: "a"}},
			Subscription{Track: inVideo, Options: SubscribeOptions{StreamID: "s", TrackID: "v"}},
		); err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub)
	}
	for _, sub := range subs {
		waitReceiving(t, sub, []string{"s/a", "s/v"}, 50)
	}
	return pub, link, audio, video, inAudio, inVideo, subs
}

// Subscribers on b get a's audio and video over the link, complete, in
// order, without duplicates, and one copy of each packet crosses the link
// however many subscribers b has.
func TestLinkForwards(t *testing.T) {
	a, b := newTestEngine(t), newTestEngine(t)
	pub, link, audio, video, inAudio, inVideo, subs := linkedSubscribers(t, a, b, 3)
	if inVideo.ID() != video.ID() || inVideo.StreamID() != video.StreamID() || inVideo.Kind() != webrtc.RTPCodecTypeVideo ||
		inAudio.ID() != audio.ID() || inAudio.Kind() != webrtc.RTPCodecTypeAudio {
		t.Fatalf("imported %s/%s %v and %s %v", inVideo.StreamID(), inVideo.ID(), inVideo.Kind(), inAudio.ID(), inAudio.Kind())
	}
	if n := link.sent.Load(); n != 2 {
		t.Errorf("%d link requests for 2 tracks and 3 subscribers, want 2", n)
	}
	pub.stopPublishing()
	for _, tr := range []struct {
		key     string
		in, src *Track
	}{{"s/a", inAudio, audio}, {"s/v", inVideo, video}} {
		waitFor(t, 5*time.Second, "the last packet over the link", func() bool {
			return lastSource(t, tr.in) == lastSource(t, tr.src)
		})
		last := lastSource(t, tr.in)
		for _, sub := range subs {
			r := sub.track(tr.key)
			waitFor(t, 5*time.Second, sub.name+" "+tr.key+" complete", func() bool { return r.complete(last) })
			checkReceived(t, sub.name+" "+tr.key, r, 50, last, false)
		}
		var crossed uint64
		for _, d := range link.exported(tr.src.ID()) {
			crossed += d.Stats().PacketsOut
		}
		in, src := tr.in.Stats().PacketsIn, tr.src.Stats().PacketsIn
		t.Logf("%s: %d packets published, %d sent over the link, %d received by b, %d subscribers on b", tr.key, src, crossed, in, len(subs))
		if crossed > src || in > src {
			t.Errorf("%s: %d packets published, %d sent over the link, %d received: more than one copy crossed", tr.key, src, crossed, in)
		}
	}
}

// A keyframe request of a subscriber on b reaches the publisher on a, and
// video lost on the link is recovered by b's NACKs, answered from a's cache.
func TestLinkKeyframeAndNACK(t *testing.T) {
	a, err := New(Config{LoopbackOnly: true, Interceptors: []interceptor.Factory{&lossFactory{publish: 0.05}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	b := newTestEngine(t)
	pub, link, _, video, _, inVideo, subs := linkedSubscribers(t, a, b, 2)

	before := video.Stats().PLIsSent
	r := subs[0].track("s/v")
	if err := subs[0].sub.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: r.ssrc}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the keyframe request to reach the publisher", func() bool {
		return video.Stats().PLIsSent > before
	})

	waitFor(t, 10*time.Second, "losses on the link", func() bool { return inVideo.Stats().NACKsSent >= 5 })
	pub.stopPublishing()
	waitFor(t, 5*time.Second, "the last packet over the link", func() bool {
		return lastSource(t, inVideo) == lastSource(t, video)
	})
	last := lastSource(t, video)
	for _, sub := range subs {
		r := sub.track("s/v")
		waitFor(t, 5*time.Second, sub.name+" complete", func() bool { return r.complete(last) })
		checkReceived(t, sub.name, r, 50, last, true)
	}
	var answered uint64
	for _, d := range link.exported(video.ID()) {
		answered += d.Stats().NACKsAnswered
	}
	st := inVideo.Stats()
	t.Logf("link: %d NACKs sent by b, %d answered by a; b received %d packets, %d never arrived (first transmissions lost: ~5%%)",
		st.NACKsSent, answered, st.PacketsIn, st.PacketsLost)
	if answered == 0 || st.PacketsLost != 0 {
		t.Errorf("%d NACKs answered, %d packets lost on the link", answered, st.PacketsLost)
	}
}
