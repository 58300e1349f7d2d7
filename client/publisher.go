package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
	"github.com/pion/webrtc/v3/pkg/media"

	"github.com/crossbar-rtc/crossbar/signaling"
)

// ErrUnpublished is returned by the methods of a Publisher whose stream has
// ended.
var ErrUnpublished = errors.New("client: stream unpublished")

// PublishOptions describe a stream to publish.
type PublishOptions struct {
	// Name is the stream's name, as others see it.
	Name string
	// Audio and Video say which tracks the stream has; at least one.
	Audio, Video bool
	// VideoType is "camera" (the default), "screen" or "custom".
	VideoType string
	// Width and Height are the video dimensions announced to others;
	// default 640x480.
	Width, Height int
	// AudioCodec and VideoCodec are MIME types, e.g. webrtc.MimeTypeOpus
	// (the default for audio) or webrtc.MimeTypeVP8 (the default for
	// video), webrtc.MimeTypeVP9, webrtc.MimeTypeH264.
	AudioCodec, VideoCodec string
	// Captions publishes captions of the stream's audio, as opentok.js's
	// publishCaptions option does: while the session has live captions
	// (crossbar.Server.StartCaptions), the server transcribes it for the
	// subscribers that ask (SubscribeOptions.Captions). PublishCaptions
	// changes it later.
	Captions bool
	// RTP makes the caller packetize: the stream is written with
	// Publisher.WriteRTP instead of Publisher.WriteSample.
	RTP bool
	// SignalOnly publishes a stream without media, on a server that
	// allows it (crossbar.Config.SignalOnlyStreams): no peer connection,
	// no tracks; Audio, Video and the rest are only what the stream
	// announces, and PublishAudio and PublishVideo change it. The server
	// announces it at once. Tests of an application's logic use it (see
	// package crossbartest).
	SignalOnly bool
}

// Publisher is one stream the client publishes on its publisher peer
// connection (in a relayed session, on one peer connection per subscriber).
type Publisher struct {
	s         *Session
	id        string
	opts      PublishOptions
	keyframes chan struct{}

	mu      sync.Mutex
	tracks  map[webrtc.RTPCodecType]*localTrack
	senders []*webrtc.RTPSender // released by Unpublish
	stream  signaling.Stream    // as announced by streamCreated
	created chan struct{}       // closed by streamCreated
	done    chan struct{}       // closed when the stream ends
	reason  string              // why it ended
}

// localTrack is one track of a published stream.
type localTrack struct {
	sample *webrtc.TrackLocalStaticSample // without PublishOptions.RTP
	rtp    *webrtc.TrackLocalStaticRTP    // with it
	on     bool                           // publishAudio / publishVideo
}

func (t *localTrack) local() webrtc.TrackLocal {
	if t.sample != nil {
		return t.sample
	}
	return t.rtp
}

// codecs the client can publish, by lower-case MIME type.
var codecs = map[string]webrtc.RTPCodecCapability{
	"audio/opus": {MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
	"audio/g722": {MimeType: webrtc.MimeTypeG722, ClockRate: 8000},
	"audio/pcmu": {MimeType: webrtc.MimeTypePCMU, ClockRate: 8000},
	"audio/pcma": {MimeType: webrtc.MimeTypePCMA, ClockRate: 8000},
	"video/vp8":  {MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
	"video/vp9":  {MimeType: webrtc.MimeTypeVP9, ClockRate: 90000},
	"video/h264": {MimeType: webrtc.MimeTypeH264, ClockRate: 90000},
	"video/av1":  {MimeType: webrtc.MimeTypeAV1, ClockRate: 90000},
}

// codecFor returns the capability of a MIME type of the given kind.
func codecFor(kind webrtc.RTPCodecType, mime string) (webrtc.RTPCodecCapability, error) {
	c, ok := codecs[strings.ToLower(mime)]
	if !ok || !strings.HasPrefix(strings.ToLower(mime), kind.String()+"/") {
		return c, fmt.Errorf("client: publish: %q is not a supported %s codec", mime, kind)
	}
	return c, nil
}

// withDefaults validates opts and fills in the defaults.
func (opts PublishOptions) withDefaults() (PublishOptions, error) {
	if !opts.Audio && !opts.Video {
		return opts, errors.New("client: publish: a stream needs an audio or a video track")
	}
	if opts.AudioCodec == "" {
		opts.AudioCodec = webrtc.MimeTypeOpus
	}
	if opts.VideoCodec == "" {
		opts.VideoCodec = webrtc.MimeTypeVP8
	}
	if opts.VideoType == "" {
		opts.VideoType = "camera"
	}
	switch opts.VideoType {
	case "camera", "screen", "custom":
	default:
		return opts, fmt.Errorf("client: publish: video type %q is not camera, screen or custom", opts.VideoType)
	}
	if opts.Width <= 0 || opts.Height <= 0 {
		opts.Width, opts.Height = 640, 480
	}
	return opts, nil
}

// describe returns the stream description sent with "publish".
func (opts PublishOptions) describe() *signaling.Stream {
	stream := &signaling.Stream{
		Name:        opts.Name,
		HasAudio:    opts.Audio,
		HasVideo:    opts.Video,
		HasCaptions: opts.Captions,
	}
	if opts.Video {
		stream.VideoType = opts.VideoType
		stream.VideoDimensions = &signaling.Dimensions{Width: opts.Width, Height: opts.Height}
	}
	return stream
}

// newTracks makes the local tracks opts ask for.
func (opts PublishOptions) newTracks() (map[webrtc.RTPCodecType]*localTrack, error) {
	tracks := map[webrtc.RTPCodecType]*localTrack{}
	for _, k := range []struct {
		kind webrtc.RTPCodecType
		want bool
		mime string
	}{
		{webrtc.RTPCodecTypeAudio, opts.Audio, opts.AudioCodec},
		{webrtc.RTPCodecTypeVideo, opts.Video, opts.VideoCodec},
	} {
		if !k.want {
			continue
		}
		c, err := codecFor(k.kind, k.mime)
		if err != nil {
			return nil, err
		}
		t := &localTrack{on: true}
		id, streamID := k.kind.String(), "crossbar-"+k.kind.String()
		if opts.RTP {
			t.rtp, err = webrtc.NewTrackLocalStaticRTP(c, id, streamID)
		} else {
			t.sample, err = webrtc.NewTrackLocalStaticSample(c, id, streamID)
		}
		if err != nil {
			return nil, fmt.Errorf("client: publish: create %s track: %w", k.kind, err)
		}
		tracks[k.kind] = t
	}
	return tracks, nil
}

// Publish publishes a stream: it adds send-only tracks to the client's
// publisher peer connection (created on the first call), negotiates them
// with the server and returns once the server accepted the stream. Write
// its media with WriteSample or WriteRTP; WaitCreated tells when the
// server announced it to the session.
//
// In a relayed session the stream is announced at once, and each client
// that subscribes gets a peer connection of its own from this one, which
// carries the same tracks: what is written goes to every subscriber.
func (s *Session) Publish(ctx context.Context, opts PublishOptions) (*Publisher, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	var tracks map[webrtc.RTPCodecType]*localTrack
	if !opts.SignalOnly {
		if tracks, err = opts.newTracks(); err != nil {
			return nil, err
		}
	}
	p := &Publisher{
		s:         s,
		opts:      opts,
		tracks:    tracks,
		keyframes: make(chan struct{}, 1),
		created:   make(chan struct{}),
		done:      make(chan struct{}),
	}

	if s.Relayed() || opts.SignalOnly {
		return s.publishAnnounced(ctx, p)
	}

	if err := s.negotiatePublish(ctx, p); err != nil {
		return nil, fmt.Errorf("client: publish: %w", err)
	}
	if err := s.addPublisher(p); err != nil {
		return nil, err
	}
	return p, nil
}

// negotiatePublish adds p's tracks to the publisher peer connection and
// negotiates them with the server, under p's stream id if it has one: a
// stream published again after the connection moved to another node.
func (s *Session) negotiatePublish(ctx context.Context, p *Publisher) error {
	s.media.negotiating.Lock()
	defer s.media.negotiating.Unlock()
	pc, tr, err := s.peerConnection(signaling.PCPublisher)
	if err != nil {
		return err
	}
	p.mu.Lock()
	tracks := p.tracks
	p.mu.Unlock()
	var senders []*webrtc.RTPSender
	var wire []signaling.Track
	var transceivers []*webrtc.RTPTransceiver
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		t := tracks[kind]
		if t == nil {
			continue
		}
		tc, err := pc.AddTransceiverFromTrack(t.local(), webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			abandon(pc, senders, false)
			return fmt.Errorf("add %s track: %w", kind, err)
		}
		senders = append(senders, tc.Sender())
		transceivers = append(transceivers, tc)
	}
	offer, err := pc.CreateOffer(nil)
	if err == nil {
		err = pc.SetLocalDescription(offer)
	}
	if err != nil {
		abandon(pc, senders, false)
		return fmt.Errorf("make offer: %w", err)
	}
	for _, tc := range transceivers {
		wire = append(wire, signaling.Track{Mid: tc.Mid(), Kind: tc.Kind().String()})
	}
	sent := pc.LocalDescription().SDP
	reply, err := s.request(ctx, &signaling.Message{Type: signaling.TypePublish, SDP: sent, Stream: p.opts.describe(), Tracks: wire, StreamID: p.id})
	if err != nil {
		abandon(pc, senders, true)
		return err
	}
	if reply.StreamID == "" || reply.SDP == "" || (p.id != "" && reply.StreamID != p.id) {
		abandon(pc, senders, true)
		if reply.StreamID != "" && p.id == "" { // a relayed session took the stream
			_, _ = s.request(ctx, &signaling.Message{Type: signaling.TypeUnpublish, StreamID: reply.StreamID})
		}
		return errors.New("the server's reply has no stream id, or another, or no answer")
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: reply.SDP}); err != nil {
		abandon(pc, senders, true)
		_, _ = s.request(ctx, &signaling.Message{Type: signaling.TypeUnpublish, StreamID: reply.StreamID})
		return fmt.Errorf("apply the server's answer: %w", err)
	}
	tr.start(sent)
	if p.id == "" {
		p.id = reply.StreamID // before p is shared; a republished p has it
	}
	p.mu.Lock()
	p.senders = senders
	p.mu.Unlock()
	for _, sender := range senders {
		if !s.media.goTracked(func() { p.readRTCP(sender) }) {
			return ErrDisconnected
		}
	}
	return nil
}

// abandon undoes a failed publish: it removes the new senders and rolls
// back the local offer if one was made.
func abandon(pc *webrtc.PeerConnection, senders []*webrtc.RTPSender, offered bool) {
	for _, sender := range senders {
		_ = pc.RemoveTrack(sender)
	}
	if offered && pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer {
		_ = pc.SetLocalDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeRollback})
	}
}

// addPublisher registers p for the stream events about it, and marks it
// created if its streamCreated came before.
func (s *Session) addPublisher(p *Publisher) error {
	m := &s.media
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrDisconnected
	}
	if m.publishers == nil {
		m.publishers = map[string]*Publisher{}
	}
	m.publishers[p.id] = p
	early := m.early[p.id]
	delete(m.early, p.id)
	m.mu.Unlock()
	for _, peer := range early {
		key := relayKey{streamID: p.id, peerID: peer}
		m.enqueue(func() { s.peerSubscribed(key) })
	}
	s.mu.Lock()
	st, ok := s.streams[p.id]
	s.mu.Unlock()
	if ok {
		p.announce(st)
	}
	return nil
}

// StreamID returns the id the server gave the stream.
func (p *Publisher) StreamID() string { return p.id }

// announce records the server's streamCreated for the stream.
func (p *Publisher) announce(st signaling.Stream) {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.created:
	default:
		p.stream = st
		close(p.created)
	}
}

// WaitCreated waits until the server announced the stream to the session
// (streamCreated, sent once media arrives) and returns it as announced.
func (p *Publisher) WaitCreated(ctx context.Context) (signaling.Stream, error) {
	select {
	case <-p.created:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.stream, nil
	case <-p.done:
		return signaling.Stream{}, p.err()
	case <-ctx.Done():
		return signaling.Stream{}, fmt.Errorf("client: wait for stream %s: %w", p.id, ctx.Err())
	}
}

// Done is closed when the stream ends: Unpublish, the server ended it, or
// the session ended. Err then says why.
func (p *Publisher) Done() <-chan struct{} { return p.done }

// Err returns nil while the stream is published, and then an
// ErrUnpublished error with the reason it ended (clientUnpublished,
// forceUnpublished, mediaStopped, sessionClosed...).
func (p *Publisher) Err() error {
	select {
	case <-p.done:
		return p.err()
	default:
		return nil
	}
}

func (p *Publisher) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Errorf("%w: stream %s: %s", ErrUnpublished, p.id, p.reason)
}

// end marks the stream ended for reason; it reports whether it was live.
func (p *Publisher) end(reason string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		return false
	default:
		p.reason = reason
		close(p.done)
		return true
	}
}

// KeyframeRequests delivers a value when the server asks for a video
// keyframe (PLI or FIR), and when video is resumed. Callers that write
// their own video should then send a keyframe soon.
func (p *Publisher) KeyframeRequests() <-chan struct{} { return p.keyframes }

func (p *Publisher) requestKeyframe() {
	select {
	case p.keyframes <- struct{}{}:
	default:
	}
}

// readRTCP reads a sender's RTCP, so that its interceptors (NACK responder,
// reports) work, and passes on keyframe requests.
func (p *Publisher) readRTCP(sender *webrtc.RTPSender) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				p.requestKeyframe()
			}
		}
	}
}

// track returns the live track of the given kind, or nil while that kind
// is not published (PublishAudio / PublishVideo false).
func (p *Publisher) track(kind webrtc.RTPCodecType) (*localTrack, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		return nil, fmt.Errorf("%w: stream %s: %s", ErrUnpublished, p.id, p.reason)
	default:
	}
	t := p.tracks[kind]
	if t == nil {
		return nil, fmt.Errorf("client: stream %s has no %s track", p.id, kind)
	}
	if !t.on {
		return nil, nil
	}
	return t, nil
}

// WriteSample sends one audio or video frame, which the track packetizes.
// While the kind is not published (PublishAudio or PublishVideo false)
// the frame is dropped. It fails for a stream published with
// PublishOptions.RTP, and with ErrUnpublished once the stream ended.
func (p *Publisher) WriteSample(kind webrtc.RTPCodecType, sample media.Sample) error {
	t, err := p.track(kind)
	if err != nil || t == nil {
		return err
	}
	if t.sample == nil {
		return fmt.Errorf("client: stream %s was published with RTP: use WriteRTP", p.id)
	}
	if err := t.sample.WriteSample(sample); err != nil {
		return fmt.Errorf("client: write %s sample: %w", kind, err)
	}
	return nil
}

// WriteRTP sends one RTP packet the caller made; the track sets its SSRC
// and payload type. While the kind is not published (PublishAudio or
// PublishVideo false) the packet is dropped. It needs a stream published
// with PublishOptions.RTP, and fails with ErrUnpublished once the stream
// ended.
func (p *Publisher) WriteRTP(kind webrtc.RTPCodecType, pkt *rtp.Packet) error {
	t, err := p.track(kind)
	if err != nil || t == nil {
		return err
	}
	if t.rtp == nil {
		return fmt.Errorf("client: stream %s was published with samples: use WriteSample", p.id)
	}
	if err := t.rtp.WriteRTP(pkt); err != nil {
		return fmt.Errorf("client: write %s RTP: %w", kind, err)
	}
	return nil
}

// PublishAudio starts or stops sending the stream's audio, as opentok.js's
// publishAudio does: the server tells the session (streamPropertyChanged
// hasAudio) and WriteSample / WriteRTP drop audio while it is off. The
// server refuses to turn audio back on while a moderator muted the stream.
func (p *Publisher) PublishAudio(ctx context.Context, on bool) error {
	return p.setPublishing(ctx, webrtc.RTPCodecTypeAudio, on)
}

// PublishVideo starts or stops sending the stream's video, as opentok.js's
// publishVideo does (streamPropertyChanged hasVideo). Turning it on asks
// for a keyframe on KeyframeRequests.
func (p *Publisher) PublishVideo(ctx context.Context, on bool) error {
	return p.setPublishing(ctx, webrtc.RTPCodecTypeVideo, on)
}

// PublishCaptions starts or stops publishing captions of the stream's
// audio, as opentok.js's publishCaptions does (streamPropertyChanged
// hasCaptions).
func (p *Publisher) PublishCaptions(ctx context.Context, on bool) error {
	msg := &signaling.Message{Type: signaling.TypeStreamUpdate, StreamID: p.id, Captions: &on}
	if _, err := p.s.request(ctx, msg); err != nil {
		return fmt.Errorf("client: set captions of stream %s to %v: %w", p.id, on, err)
	}
	return nil
}

// announces reports whether a signal-only stream announced a track of
// kind, which it has not.
func (p *Publisher) announces(kind webrtc.RTPCodecType) bool {
	if kind == webrtc.RTPCodecTypeAudio {
		return p.opts.SignalOnly && p.opts.Audio
	}
	return p.opts.SignalOnly && p.opts.Video
}

func (p *Publisher) setPublishing(ctx context.Context, kind webrtc.RTPCodecType, on bool) error {
	p.mu.Lock()
	t := p.tracks[kind]
	if t != nil && !on {
		t.on = false // stop at once; resume only once the server agreed
	}
	p.mu.Unlock()
	if t == nil && !p.announces(kind) {
		return fmt.Errorf("client: stream %s has no %s track", p.id, kind)
	}
	msg := &signaling.Message{Type: signaling.TypeStreamUpdate, StreamID: p.id}
	if kind == webrtc.RTPCodecTypeAudio {
		msg.Audio = &on
	} else {
		msg.Video = &on
	}
	if _, err := p.s.request(ctx, msg); err != nil {
		return fmt.Errorf("client: set %s of stream %s to %v: %w", kind, p.id, on, err)
	}
	if on && t != nil {
		p.mu.Lock()
		t.on = true
		p.mu.Unlock()
		if kind == webrtc.RTPCodecTypeVideo {
			p.requestKeyframe()
		}
	}
	return nil
}

// Unpublish ends the stream (streamDestroyed, reason clientUnpublished) and
// renegotiates the publisher peer connection without its tracks, or in a
// relayed session closes the stream's peer connections. Calling it on a
// stream that already ended only releases the tracks.
func (p *Publisher) Unpublish(ctx context.Context) error {
	select {
	case <-p.done:
	default:
		if _, err := p.s.request(ctx, &signaling.Message{Type: signaling.TypeUnpublish, StreamID: p.id}); err != nil {
			return fmt.Errorf("client: unpublish stream %s: %w", p.id, err)
		}
		p.end("clientUnpublished")
	}
	return p.s.release(ctx, p)
}

// release removes an ended stream's senders from the publisher peer
// connection and renegotiates it with the server, and has the media
// goroutine close the stream's relayed peer connections.
func (s *Session) release(ctx context.Context, p *Publisher) error {
	m := &s.media
	m.enqueue(func() { s.closeRelays(func(k relayKey) bool { return k.streamID == p.id }) })
	m.negotiating.Lock()
	defer m.negotiating.Unlock()
	m.mu.Lock()
	if m.publishers[p.id] == p {
		delete(m.publishers, p.id)
	}
	pc := m.pub
	m.mu.Unlock()
	p.mu.Lock()
	senders := p.senders
	p.senders = nil
	p.mu.Unlock()
	if len(senders) == 0 || pc == nil {
		return nil
	}
	for _, sender := range senders {
		if err := pc.RemoveTrack(sender); err != nil {
			return fmt.Errorf("client: unpublish stream %s: remove track: %w", p.id, err)
		}
	}
	if err := s.offerPublisher(ctx, pc, nil); err != nil {
		return fmt.Errorf("client: unpublish stream %s: %w", p.id, err)
	}
	return nil
}

// offerPublisher renegotiates the publisher peer connection: it offers,
// with opts, and applies the server's answer. The caller holds
// m.negotiating.
func (s *Session) offerPublisher(ctx context.Context, pc *webrtc.PeerConnection, opts *webrtc.OfferOptions) error {
	offer, err := pc.CreateOffer(opts)
	if err == nil {
		err = pc.SetLocalDescription(offer)
	}
	if err != nil {
		return fmt.Errorf("make offer: %w", err)
	}
	reply, err := s.request(ctx, &signaling.Message{Type: signaling.TypeOffer, SDP: pc.LocalDescription().SDP})
	if err != nil {
		_ = pc.SetLocalDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeRollback})
		return fmt.Errorf("renegotiate: %w", err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: reply.SDP}); err != nil {
		return fmt.Errorf("apply the server's answer: %w", err)
	}
	return nil
}
