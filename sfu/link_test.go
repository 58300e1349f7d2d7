package sfu

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
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
			if tr, ok := l.tracks.Load(id); ok {
				return tr.(*Track)
			}
			return nil
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
				err := l.out.Request(r)
				if errors.Is(err, ErrUnknownTrack) {
					l.in.Refuse(r.TrackID) // as the nodes tell each other
				} else if err != nil && !errors.Is(err, ErrLinkClosed) {
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
		waitFor(t, 5*time.Second, "every loss on the link recovered", func() bool { return tr.in.Stats().PacketsLost == 0 })
		last := lastSource(t, tr.in) - tailLoss
		for _, sub := range subs {
			r := sub.track(tr.key)
			awaitComplete(r, last, 5*time.Second)
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
	// The link's last packets may be lost for good: no later packet
	// shows b that they are missing. Everything before is recovered.
	waitFor(t, 5*time.Second, "every loss on the link recovered", func() bool { return inVideo.Stats().PacketsLost == 0 })
	last := lastSource(t, inVideo) - tailLoss
	for _, sub := range subs {
		r := sub.track("s/v")
		awaitComplete(r, last, 5*time.Second)
		checkReceived(t, sub.name, r, 50, last, true)
	}
	var answered uint64
	for _, d := range link.exported(video.ID()) {
		answered += d.Stats().NACKsAnswered
	}
	st := inVideo.Stats()
	t.Logf("link: %d NACKs sent by b, %d answered by a; b received %d packets, %d never arrived (first transmissions lost: ~5%%)",
		st.NACKsSent, answered, st.PacketsIn, st.PacketsLost)
	if answered == 0 {
		t.Error("no NACK answered over the link")
	}
}

// feedSimulcast sends a VP8 frame of two packets on every layer of a
// local simulcast group every 20 ms, a keyframe on a layer when asked for
// one, until stop. Its layer demand is updated as a remote Track's.
func feedSimulcast(t *testing.T, n int, stop <-chan struct{}, wg *sync.WaitGroup) *Track {
	layers := make([]*Track, n)
	asked := make([]atomic.Bool, n)
	for i := range layers {
		layers[i] = NewLocalTrack("sim", vp8Codec)
		layers[i].rid = string(rune('q' + i))
		layers[i].OnKeyframeRequest(func() { asked[i].Store(true) })
		if i == 0 {
			layers[0].makeGroup(n, 0)
		} else if !layers[0].addLayer(layers[i], i) {
			t.Fatal("addLayer refused")
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		ticker := time.NewTicker(20 * time.Millisecond)
		defer ticker.Stop()
		seq := make([]uint16, n)
		for f := uint32(0); ; f++ {
			select {
			case <-stop:
				return
			case <-ticker.C:
			}
			for i, l := range layers {
				key := f == 0 || asked[i].Swap(false)
				for k := range 2 {
					p := vp8Full(seq[i], f*1800, uint16(f)&0x7fff, uint8(f), 0, k == 0, key, k == 1, i)
					if err := l.WriteRTP(p); err != nil {
						return
					}
					seq[i]++
				}
			}
			layers[0].updateDemand(time.Now().UnixNano()) // as a remote Track's reader does
		}
	}()
	return layers[0]
}

// Only the layers b's subscribers want cross the link; a layer nobody
// wants on either engine is paused at the publisher, and a subscriber on
// b that asks for a higher layer gets it.
func TestLinkSimulcast(t *testing.T) {
	a, b := newTestEngine(t), newTestEngine(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	group := feedSimulcast(t, 3, stop, &wg)
	defer group.Close()
	var demand atomic.Value // of a's group: the latest OnLayerDemand
	group.OnLayerDemand(func(rids []string, active []bool) { demand.Store(fmt.Sprint(rids, active)) })

	link := newTestLink(t, a, b)
	link.export(group)
	sub := newTestClient(t, b, "sub", clientOptions{})
	imported := link.importTrack(group.ID())
	d := sub.subscribe(imported, "s", "v")
	d.SetPreferredLayers(0, -1)
	waitReceiving(t, sub, []string{"s/v"}, 20)
	if n := len(*imported.layers.Load()); n != 3 {
		t.Fatalf("imported %d layers, want 3", n)
	}

	waitFor(t, 15*time.Second, "a's publisher asked to pause layers 1 and 2", func() bool {
		return demand.Load() == "[q r s] [true false false]"
	})
	downs := link.exported(group.ID())
	if len(downs) != 3 || downs[0].Paused() || !downs[1].Paused() || !downs[2].Paused() {
		t.Fatalf("link streams paused: %v %v %v, want layers 1 and 2 only", downs[0].Paused(), downs[1].Paused(), downs[2].Paused())
	}
	sent := downs[2].Stats().PacketsOut
	waitFor(t, 5*time.Second, "layer 2 idle on b", func() bool { return !imported.layer(2).active(time.Now().UnixNano()) })
	if now := downs[2].Stats().PacketsOut; now != sent {
		t.Errorf("%d packets of paused layer 2 crossed the link", now-sent)
	}
	in := imported.layer(2).Stats().PacketsIn

	d.SetPreferredLayers(2, -1)
	waitFor(t, 10*time.Second, "b's subscriber on layer 2", func() bool { return d.CurrentLayer() == 2 })
	waitFor(t, 5*time.Second, "a's publisher asked for layer 2", func() bool {
		return demand.Load() == "[q r s] [true false true]"
	})
	if !downs[1].Paused() || downs[2].Paused() {
		t.Errorf("link streams paused: layer 1 %v, layer 2 %v; want layer 1 only", downs[1].Paused(), downs[2].Paused())
	}
	t.Logf("layer 2 over the link: %d packets before b paused it, %d once b wanted it again; b received %d, then %d",
		sent, downs[2].Stats().PacketsOut, in, imported.layer(2).Stats().PacketsIn)
}

// subscriptions returns how many DownTracks a Peer has.
func subscriptions(p *Peer) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.downTracks)
}

// When a's Track ends, b's imported Track closes and its subscriptions
// end; closing the link ends the others.
func TestLinkClose(t *testing.T) {
	a, b := newTestEngine(t), newTestEngine(t)
	pub, link, _, video, inAudio, inVideo, subs := linkedSubscribers(t, a, b, 2)
	videoClosed, audioClosed := make(chan struct{}), make(chan struct{})
	inVideo.OnClose(func() { close(videoClosed) })
	inAudio.OnClose(func() { close(audioClosed) })

	if err := pub.unpublish(webrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	select {
	case <-videoClosed:
	case <-time.After(10 * time.Second):
		t.Fatal("b's imported video did not close when a's ended")
	}
	for _, sub := range subs {
		waitFor(t, 5*time.Second, sub.name+"'s video subscription to end", func() bool { return subscriptions(sub.peer) == 1 })
	}
	waitFor(t, 5*time.Second, "a to forget the export", func() bool { return link.exported(video.ID()) == nil })

	link.close()
	select {
	case <-audioClosed:
	case <-time.After(5 * time.Second):
		t.Fatal("b's imported audio did not close with the link")
	}
	for _, sub := range subs {
		waitFor(t, 5*time.Second, sub.name+"'s audio subscription to end", func() bool { return subscriptions(sub.peer) == 0 })
	}
	if _, err := link.in.Import(context.Background(), "x"); !errors.Is(err, ErrLinkClosed) {
		t.Errorf("Import on a closed link: %v, want ErrLinkClosed", err)
	}
	if err := link.out.Request(LinkRequest{TrackID: "x", Layers: 1}); !errors.Is(err, ErrLinkClosed) {
		t.Errorf("Request on a closed link: %v, want ErrLinkClosed", err)
	}
}

// Requests and streams the link does not know are refused with an error.
func TestLinkBadInput(t *testing.T) {
	a, b := newTestEngine(t), newTestEngine(t)
	if _, err := a.NewLinkOut(LinkOutConfig{}); err == nil {
		t.Error("NewLinkOut without callbacks succeeded")
	}
	if _, err := b.NewLinkIn(LinkInConfig{}); err == nil {
		t.Error("NewLinkIn without OnRequest succeeded")
	}
	link := newTestLink(t, a, b)
	if err := link.out.Request(LinkRequest{Layers: 1}); !errors.Is(err, ErrBadLinkRequest) {
		t.Errorf("request without a track id: %v", err)
	}
	if err := link.out.Request(LinkRequest{TrackID: "nope", Layers: 1}); !errors.Is(err, ErrUnknownTrack) {
		t.Errorf("request for an unknown track: %v", err)
	}
	if err := link.out.Request(LinkRequest{TrackID: "nope"}); err != nil {
		t.Errorf("release of a track not exported: %v", err)
	}
	if err := link.out.SetAnswer("v=0"); !errors.Is(err, ErrNoOffer) {
		t.Errorf("answer without an offer: %v", err)
	}
	if _, err := link.in.Answer("not an sdp"); err == nil {
		t.Error("a malformed offer was accepted")
	}
	if _, err := link.in.Import(context.Background(), ""); !errors.Is(err, ErrBadLinkRequest) {
		t.Errorf("import without a track id: %v", err)
	}
	// The exporting end refuses a track it does not have, at once.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := link.in.Import(ctx, "nope"); !errors.Is(err, ErrUnknownTrack) {
		t.Errorf("import of an unknown track: %v", err)
	}
	if err := link.in.Release("nope"); !errors.Is(err, ErrUnknownTrack) {
		t.Errorf("release of a track not imported: %v", err)
	}
	for _, msid := range [][2]string{
		{"", ""}, {"eA", "0.1."}, {"eA.", "0.1"}, {".", "0.1."}, {"eA.", "1.1."}, {"eA.", "0.9."},
		{"eA.", "-1.2."}, {"e!.", "0.1."}, {"eA.", "0.1.!"}, {"eA.", "x.1."},
	} {
		if s, err := parseLinkStream(msid[0], msid[1]); err == nil {
			t.Errorf("msid %q parsed as %+v", msid, s)
		}
	}
	want := linkStream{trackID: "{a.b c}", streamID: "", rid: "h", layer: 1, layers: 3}
	if s, err := parseLinkStream(want.msid()); err != nil || s != want {
		t.Errorf("msid round trip: %+v, %v; want %+v", s, err, want)
	}
}

// RTP and RTCP a stranger sends to either engine's port, with the link's
// own SSRCs, are not heard: nothing of it reaches b's subscribers.
func TestLinkStranger(t *testing.T) {
	a, b := newTestEngine(t), newTestEngine(t)
	_, link, _, video, _, inVideo, subs := linkedSubscribers(t, a, b, 1)
	link.mu.Lock()
	ssrcs := ssrcsOf(link.offer)
	link.mu.Unlock()
	gate := link.in.peer.pubGate
	gate.mu.Lock()
	declared := len(gate.declared)
	gate.mu.Unlock()
	if len(ssrcs) == 0 || declared != len(ssrcs) {
		t.Fatalf("the link's gate declares %d SSRCs, the offer %d", declared, len(ssrcs))
	}

	stranger, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stranger.Close() }()
	const forged = 0xdeadbeef
	r := subs[0].track("s/v")
	_, before := r.counts()
	for seq := range uint16(200) {
		for ssrc := range ssrcs {
			payload := make([]byte, 100)
			payload[0] = 0x10
			binary.BigEndian.PutUint32(payload[4:8], forged)
			p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, SSRC: ssrc}, Payload: payload}
			raw, err := p.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			pli, err := rtcp.Marshal([]rtcp.Packet{&rtcp.PictureLossIndication{SenderSSRC: ssrc, MediaSSRC: ssrc}})
			if err != nil {
				t.Fatal(err)
			}
			for _, addr := range append(a.LocalAddrs(), b.LocalAddrs()...) {
				for _, b := range [][]byte{raw, pli} {
					if _, err := stranger.WriteTo(b, addr); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	waitFor(t, 5*time.Second, "more video on b", func() bool { _, n := r.counts(); return n >= before+50 })
	r.mu.Lock()
	heard := r.sources[forged]
	r.mu.Unlock()
	if heard != 0 || inVideo.Stats().PacketsIn > video.Stats().PacketsIn {
		t.Errorf("the stranger was heard: %d forged packets reached the subscriber; b received %d packets of the %d published",
			heard, inVideo.Stats().PacketsIn, video.Stats().PacketsIn)
	}
}

// The audio level of a's Track reaches b's imported Track.
func TestLinkAudioLevel(t *testing.T) {
	a, b := newTestEngine(t), newTestEngine(t)
	audio := NewLocalTrack("mic", webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2})
	defer audio.Close()
	audio.levelExtID = 1 // as negotiated with a publisher
	link := newTestLink(t, a, b)
	link.export(audio)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ticker := time.NewTicker(20 * time.Millisecond)
		defer ticker.Stop()
		p := &rtp.Packet{Header: rtp.Header{Version: 2}, Payload: make([]byte, 60)}
		if err := p.SetExtension(1, []byte{20}); err != nil { // -20 dBov
			t.Error(err)
			return
		}
		for {
			select {
			case <-stop:
				return
			case <-ticker.C:
			}
			p.SequenceNumber++
			p.Timestamp += 960
			if err := audio.WriteRTP(p); err != nil {
				return
			}
		}
	}()
	defer wg.Wait()
	defer close(stop)
	imported := link.importTrack(audio.ID())
	waitFor(t, 5*time.Second, "the audio level on b", func() bool {
		level := imported.AudioLevel()
		return level > 0.09 && level < 0.11
	})
}
