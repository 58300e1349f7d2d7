package sfu

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

// This file holds a browser stand-in for the end-to-end tests: a Pion
// client with a publishing and a subscribing PeerConnection, signaling
// directly with an sfu.Peer (no signaling server in between).

func newTestEngine(t *testing.T) *Engine {
	t.Helper()
	e, err := New(Config{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("close engine: %v", err)
		}
	})
	return e
}

// clientOptions add packet loss to a test client's video: on what it
// publishes (first transmissions only, retransmissions pass) and on what it
// receives (first arrivals only).
type clientOptions struct {
	publishLoss, receiveLoss float64
	tcpOnly                  bool // gather only TCP candidates (ICE-TCP)
	// publishConn, if set, is the one UDP socket of the publishing
	// connection, so that a test can send from its address too.
	publishConn *net.UDPConn
	// videoCodec is the MIME type of the video the client publishes;
	// default VP8.
	videoCodec string
	// noH264 leaves H.264 out of the client's codecs, as Firefox in Debian
	// has none: it can neither send nor receive it.
	noH264 bool
}

// testClient is one client connection.
type testClient struct {
	t    *testing.T
	name string
	opts clientOptions
	peer *Peer
	pub  *webrtc.PeerConnection
	sub  *webrtc.PeerConnection

	trackCh chan *Track          // server-side Tracks of what this client publishes
	failed  chan failedSubscribe // what OnSubscribeFailed reported
	offers  atomic.Int32         // subscriber offers received

	mu       sync.Mutex
	received map[string]*received // by "streamID/trackID"
	stop     chan struct{}
	sending  chan struct{}    // closed when sendMedia returns; nil before publish
	sent     [2]atomic.Uint32 // audio's and video's last index sent, plus one
	wg       sync.WaitGroup
}

// failedSubscribe is one call of PeerConfig.OnSubscribeFailed.
type failedSubscribe struct {
	d   *DownTrack
	err error
}

// received records what a subscriber got on one track.
type received struct {
	mu      sync.Mutex
	seqs    map[uint16]int // output sequence number -> arrivals
	sources map[uint32]int // publisher's packet index -> arrivals
	ssrc    uint32
}

func (r *received) counts() (packets, distinct int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.seqs {
		packets += n
	}
	return packets, len(r.seqs)
}

func newTestClient(t *testing.T, e *Engine, name string, opts clientOptions) *testClient {
	t.Helper()
	c := &testClient{
		t:        t,
		name:     name,
		opts:     opts,
		trackCh:  make(chan *Track, 4),
		failed:   make(chan failedSubscribe, 4),
		received: make(map[string]*received),
		stop:     make(chan struct{}),
	}
	api := newClientAPI(t, opts)
	pubAPI := api
	if opts.publishConn != nil {
		mux := ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: opts.publishConn})
		t.Cleanup(func() { _ = mux.Close() }) // after c.close
		pubAPI = newClientAPI(t, opts, func(se *webrtc.SettingEngine) { se.SetICEUDPMux(mux) })
	}
	var err error
	if c.pub, err = pubAPI.NewPeerConnection(webrtc.Configuration{}); err != nil {
		t.Fatal(err)
	}
	if c.sub, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		t.Fatal(err)
	}
	c.sub.OnTrack(c.onTrack)
	c.peer, err = e.NewPeer(PeerConfig{
		OnTrack:           func(tr *Track) { c.trackCh <- tr },
		OnSubscriberOffer: c.onOffer,
		OnSubscribeFailed: func(d *DownTrack, err error) { c.failed <- failedSubscribe{d, err} },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	return c
}

func newClientAPI(t *testing.T, opts clientOptions, settings ...func(*webrtc.SettingEngine)) *webrtc.API {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := registerClientCodecs(m, opts.noH264); err != nil {
		t.Fatal(err)
	}
	r := &interceptor.Registry{}
	// Loss sits next to the network: before the NACK generator on the way
	// in, after the NACK responder's cache on the way out.
	if opts.publishLoss > 0 || opts.receiveLoss > 0 {
		r.Add(&lossFactory{publish: opts.publishLoss, receive: opts.receiveLoss})
	}
	if err := webrtc.RegisterDefaultInterceptors(m, r); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	if opts.tcpOnly {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if opts.receiveLoss > 0 {
		// The loss is simulated after SRTP decryption, so SRTP has seen the
		// "lost" packet and would reject its retransmission as a replay.
		se.DisableSRTPReplayProtection(true)
	}
	for _, f := range settings {
		f(&se)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(r), webrtc.WithSettingEngine(se))
}

// registerClientCodecs registers Pion's default codecs, or without H.264
// only Opus and VP8.
func registerClientCodecs(m *webrtc.MediaEngine, noH264 bool) error {
	if !noH264 {
		return m.RegisterDefaultCodecs()
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}}, webrtc.RTPCodecTypeAudio); err != nil {
		return err
	}
	return m.RegisterCodec(webrtc.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}, webrtc.RTPCodecTypeVideo)
}

// gather applies a local description and returns it with all candidates.
func gather(pc *webrtc.PeerConnection, desc webrtc.SessionDescription) (string, error) {
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(desc); err != nil {
		return "", err
	}
	<-done
	return pc.LocalDescription().SDP, nil
}

// onOffer answers the engine's subscriber offer.
func (c *testClient) onOffer(sdp string, n uint64) {
	c.offers.Add(1)
	if err := c.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		c.t.Errorf("%s: apply subscriber offer: %v", c.name, err)
		return
	}
	answer, err := c.sub.CreateAnswer(nil)
	if err != nil {
		c.t.Errorf("%s: create answer: %v", c.name, err)
		return
	}
	answerSDP, err := gather(c.sub, answer)
	if err != nil {
		c.t.Errorf("%s: apply answer: %v", c.name, err)
		return
	}
	if err := c.peer.SetSubscriberAnswer(answerSDP, n); err != nil && !errors.Is(err, ErrPeerClosed) {
		c.t.Errorf("%s: SetSubscriberAnswer: %v", c.name, err)
	}
}

// onTrack records every packet of a subscribed track.
func (c *testClient) onTrack(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	key := remote.StreamID() + "/" + remote.ID()
	r := &received{seqs: make(map[uint16]int), sources: make(map[uint32]int), ssrc: uint32(remote.SSRC())}
	c.mu.Lock()
	if _, dup := c.received[key]; dup {
		c.t.Errorf("%s: track %s arrived twice", c.name, key)
	}
	c.received[key] = r
	c.mu.Unlock()
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := receiver.Read(buf); err != nil {
				return
			}
		}
	}()
	for {
		p, _, err := remote.ReadRTP()
		if err != nil {
			return
		}
		r.mu.Lock()
		r.seqs[p.SequenceNumber]++
		if len(p.Payload) >= 8 {
			r.sources[binary.BigEndian.Uint32(p.Payload[4:8])]++
		}
		r.mu.Unlock()
	}
}

func (c *testClient) track(key string) *received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.received[key]
}

func (c *testClient) trackKeys() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.received))
	for k := range c.received {
		keys = append(keys, k)
	}
	return keys
}

// publish sends an audio and a video track and returns their server-side Tracks.
func (c *testClient) publish() (audio, video *Track) {
	c.t.Helper()
	a, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", c.name)
	if err != nil {
		c.t.Fatal(err)
	}
	videoCodec := c.opts.videoCodec
	if videoCodec == "" {
		videoCodec = webrtc.MimeTypeVP8
	}
	v, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: videoCodec, ClockRate: 90000}, "video", c.name)
	if err != nil {
		c.t.Fatal(err)
	}
	keyframe := make(chan struct{}, 1)
	for _, tr := range []webrtc.TrackLocal{a, v} {
		sender, err := c.pub.AddTrack(tr)
		if err != nil {
			c.t.Fatal(err)
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			readSenderRTCP(sender, keyframe)
		}()
	}
	offer, err := c.pub.CreateOffer(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	offerSDP, err := gather(c.pub, offer)
	if err != nil {
		c.t.Fatal(err)
	}
	answer, err := c.peer.Publish(offerSDP)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		c.t.Fatal(err)
	}
	c.wg.Add(1)
	c.sending = make(chan struct{})
	go func() {
		defer c.wg.Done()
		defer close(c.sending)
		c.sendMedia(a, v, keyframe)
	}()
	for range 2 {
		select {
		case tr := <-c.trackCh:
			if tr.Kind() == webrtc.RTPCodecTypeAudio {
				audio = tr
			} else {
				video = tr
			}
		case <-time.After(10 * time.Second):
			c.t.Fatalf("%s: published tracks did not arrive", c.name)
		}
	}
	if audio == nil || video == nil || audio.Mid() == "" || video.Mid() == "" {
		c.t.Fatalf("%s: got audio %v video %v", c.name, audio, video)
	}
	return audio, video
}

// unpublish stops sending the track of the given kind and renegotiates.
func (c *testClient) unpublish(kind webrtc.RTPCodecType) error {
	for _, s := range c.pub.GetSenders() {
		if s.Track() != nil && s.Track().Kind() == kind {
			if err := c.pub.RemoveTrack(s); err != nil {
				return err
			}
		}
	}
	offer, err := c.pub.CreateOffer(nil)
	if err != nil {
		return err
	}
	offerSDP, err := gather(c.pub, offer)
	if err != nil {
		return err
	}
	answer, err := c.peer.Publish(offerSDP)
	if err != nil {
		return err
	}
	return c.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer})
}

// readSenderRTCP drains a sender's RTCP (so the NACK responder sees NACKs)
// and signals keyframe requests.
func readSenderRTCP(s *webrtc.RTPSender, keyframe chan<- struct{}) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				select {
				case keyframe <- struct{}{}:
				default:
				}
			}
		}
	}
}

// sendMedia sends, every 20 ms, one Opus packet and one VP8 frame of two
// packets (a keyframe when asked for one) until stopPublishing. Every
// payload carries the packet's index at bytes 4-8.
func (c *testClient) sendMedia(audio, video *webrtc.TrackLocalStaticRTP, keyframe <-chan struct{}) {
	ticker := time.NewTicker(20 * time.Millisecond)
	defer ticker.Stop()
	var aSeq, vSeq uint16
	var aIdx, vIdx uint32
	for tick := uint32(0); ; tick++ {
		select {
		case <-c.stop:
			return
		case <-ticker.C:
		}
		payload := make([]byte, 60)
		binary.BigEndian.PutUint32(payload[4:8], aIdx)
		if err := audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: aSeq, Timestamp: tick * 960}, Payload: payload}); err != nil {
			return
		}
		aSeq++
		aIdx++
		c.sent[0].Store(aIdx)
		key := false
		select {
		case <-keyframe:
			key = true
		default:
		}
		for i := 0; i < 2; i++ {
			payload := make([]byte, 800)
			if i == 0 {
				payload[0] = 0x10 // S=1, partition 0
				if !key {
					payload[1] = 0x01 // P=1: delta frame
				}
			}
			binary.BigEndian.PutUint32(payload[4:8], vIdx)
			p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: vSeq, Timestamp: tick * 1800, Marker: i == 1}, Payload: payload}
			if err := video.WriteRTP(p); err != nil {
				return
			}
			vSeq++
			vIdx++
			c.sent[1].Store(vIdx)
		}
	}
}

// stopPublishing stops sending media, and returns once the last packet
// is sent.
func (c *testClient) stopPublishing() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	if c.sending != nil {
		<-c.sending
	}
}

// lastSent returns the index of the last packet of the kind sent.
func (c *testClient) lastSent(kind webrtc.RTPCodecType) uint32 {
	if kind == webrtc.RTPCodecTypeAudio {
		return c.sent[0].Load() - 1
	}
	return c.sent[1].Load() - 1
}

// subscribe subscribes this client to tr under "stream/track".
func (c *testClient) subscribe(tr *Track, stream, track string) *DownTrack {
	c.t.Helper()
	d, err := c.peer.Subscribe(tr, SubscribeOptions{StreamID: stream, TrackID: track})
	if err != nil {
		c.t.Fatalf("%s: subscribe: %v", c.name, err)
	}
	return d
}

func (c *testClient) close() {
	c.stopPublishing()
	if err := c.peer.Close(); err != nil {
		c.t.Errorf("%s: close peer: %v", c.name, err)
	}
	if err := c.pub.Close(); err != nil {
		c.t.Errorf("%s: close publishing connection: %v", c.name, err)
	}
	if err := c.sub.Close(); err != nil {
		c.t.Errorf("%s: close subscribing connection: %v", c.name, err)
	}
	c.wg.Wait()
}

// lossFactory builds lossy interceptors for video streams.
type lossFactory struct{ publish, receive float64 }

func (f *lossFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &lossy{publish: f.publish, receive: f.receive, seen: make(map[uint64]bool)}, nil
}

// lossy drops the first transmission of a random share of video packets.
type lossy struct {
	interceptor.NoOp
	publish, receive float64
	mu               sync.Mutex
	seen             map[uint64]bool // ssrc<<16 | seq of packets already let through or dropped once
}

// drop decides for one packet: only its first appearance can be dropped.
func (l *lossy) drop(ssrc uint32, seq uint16, rate float64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := uint64(ssrc)<<16 | uint64(seq)
	if l.seen[key] {
		return false
	}
	l.seen[key] = true
	return rand.Float64() < rate
}

func (l *lossy) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	if l.publish == 0 || !strings.HasPrefix(info.MimeType, "video/") {
		return w
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if l.drop(h.SSRC, h.SequenceNumber, l.publish) {
			return len(payload), nil
		}
		return w.Write(h, payload, a)
	})
}

func (l *lossy) BindRemoteStream(info *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	if l.receive == 0 || !strings.HasPrefix(info.MimeType, "video/") {
		return r
	}
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, attr, err := r.Read(b, a)
			if err != nil || n < 12 {
				return n, attr, err
			}
			if !l.drop(binary.BigEndian.Uint32(b[8:12]), binary.BigEndian.Uint16(b[2:4]), l.receive) {
				return n, attr, err
			}
		}
	})
}
