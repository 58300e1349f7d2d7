package crossbar

import (
	"errors"
	"fmt"
	"sync"

	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar/sfu"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// connMedia is a connection's side of the forwarding engine.
type connMedia struct {
	mu     sync.Mutex // serialises creating and closing the peer
	peer   *sfu.Peer
	closed bool

	// Guarded by session.mu.
	pending map[string]*Stream     // by mid: streams whose tracks have not all arrived
	subs    map[string]*Subscriber // by stream id
}

// muteAll is the state of ForceMuteAll.
type muteAll struct {
	excluded map[string]bool
}

// peerOf returns the connection's peer in the engine, making it on first use.
func (s *Session) peerOf(c *Connection) (*sfu.Peer, error) {
	m := &c.media
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrNotConnected
	}
	if m.peer != nil {
		return m.peer, nil
	}
	p, err := s.srv.engine.NewPeer(sfu.PeerConfig{
		PublishVideoCodec: s.publishVideoCodec,
		OnTrack:           func(t *sfu.Track) { s.trackArrived(c, t) },
		OnSubscriberOffer: func(sdp string) {
			s.mu.Lock()
			defer s.unlock()
			s.sendLocked(c, &signaling.Message{Type: signaling.TypeSubscriberOffer, SDP: sdp})
		},
		OnConnectionStateChange: func(k sfu.PCKind, st webrtc.PeerConnectionState) {
			if st == webrtc.PeerConnectionStateFailed && k == sfu.PCPublish {
				s.engine.post(func() { s.mediaFailed(c) })
			}
		},
		OnSubscribeFailed: func(d *sfu.DownTrack, err error) {
			s.engine.post(func() { s.subscriptionFailed(c, d, err) })
		},
	})
	if err != nil {
		return nil, fmt.Errorf("crossbar: media for connection %s: %w", c.id, err)
	}
	m.peer = p
	return p, nil
}

// closeMedia closes the connection's peer: its published tracks and its
// subscriptions. It must not be called with the session lock held.
func (c *Connection) closeMedia() {
	m := &c.media
	m.mu.Lock()
	p := m.peer
	m.peer, m.closed = nil, true
	m.mu.Unlock()
	if p != nil {
		if err := p.Close(); err != nil {
			c.session.log.Debug("closing a connection's peer", "connection", c.id, "err", err)
		}
	}
}

// mediaFailed ends the streams of a connection whose publishing peer
// connection failed: its client died or lost its network, and nothing has
// arrived for the engine's PublishTimeout. Streams whose tracks had not all
// arrived end too; they never will.
func (s *Session) mediaFailed(c *Connection) {
	s.mu.Lock()
	defer s.unlock()
	for _, st := range s.streamsLocked() {
		if st.connection == c {
			s.removeStreamLocked(st, ReasonMediaStopped)
		}
	}
	for mid, st := range c.media.pending {
		delete(c.media.pending, mid)
		s.removeStreamLocked(st, ReasonMediaStopped)
	}
	s.log.Info("publishing peer connection failed", "connection", c.id)
}

// routed returns an error for media requests in relayed sessions.
func (s *Session) routed() error {
	if s.info.MediaMode != Routed {
		return fmt.Errorf("%w: session %s is relayed: media goes peer to peer", ErrBadRequest, s.info.ID)
	}
	return nil
}

// publish handles a client's "publish": a new stream on its publishing
// peer connection. The stream is announced when its tracks arrive.
func (s *Session) publish(c *Connection, m *signaling.Message) (*signaling.Message, error) {
	if s.info.MediaMode == Relayed {
		return s.publishRelayed(c, m)
	}
	if m.Stream == nil || m.SDP == "" || len(m.Tracks) == 0 || len(m.Tracks) > 2 {
		return nil, fmt.Errorf("%w: publish needs stream, sdp and one or two tracks", ErrBadRequest)
	}
	st, err := newStream(c, m.Stream)
	if err != nil {
		return nil, err
	}
	st.pub = &Publisher{stream: st, want: map[string]webrtc.RTPCodecType{}}
	for _, t := range m.Tracks {
		kind := webrtc.NewRTPCodecType(t.Kind)
		if kind == 0 || t.Mid == "" {
			return nil, fmt.Errorf("%w: track %+v", ErrBadRequest, t)
		}
		st.pub.want[t.Mid] = kind
	}
	peer, err := s.peerOf(c)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if err := s.checkStreamLimitLocked(c); err != nil {
		s.unlock()
		return nil, err
	}
	for mid := range st.pub.want {
		if c.media.pending[mid] != nil {
			s.unlock()
			return nil, fmt.Errorf("%w: mid %q is already being published", ErrBadRequest, mid)
		}
	}
	if c.media.pending == nil {
		c.media.pending = map[string]*Stream{}
	}
	for mid := range st.pub.want {
		c.media.pending[mid] = st
	}
	s.unlock()
	answer, err := peer.Publish(m.SDP)
	if err != nil {
		s.mu.Lock()
		s.forgetPendingLocked(c, st)
		s.unlock()
		return nil, withCause(fmt.Errorf("%w: the offer could not be applied", ErrBadRequest), err)
	}
	return &signaling.Message{Type: signaling.TypeOK, StreamID: st.id, SDP: answer}, nil
}

// checkStreamLimitLocked refuses a new stream of c beyond the limit; streams
// whose tracks have not all arrived count too.
func (s *Session) checkStreamLimitLocked(c *Connection) error {
	n := 0
	for _, st := range s.streams {
		if st.connection == c {
			n++
		}
	}
	pending := map[*Stream]bool{}
	for _, st := range c.media.pending {
		pending[st] = true
	}
	n += len(pending)
	if max := s.srv.cfg.MaxStreamsPerConnection; n >= max {
		return fmt.Errorf("%w: connection %s publishes %d streams", ErrStreamLimit, c.id, n)
	}
	return nil
}

// subscriptionsLocked counts the subscriptions of every connection.
func (s *Session) subscriptionsLocked() int {
	n := 0
	for _, c := range s.conns {
		n += len(c.media.subs)
	}
	return n
}

func (s *Session) forgetPendingLocked(c *Connection, st *Stream) {
	for mid, p := range c.media.pending {
		if p == st {
			delete(c.media.pending, mid)
		}
	}
}

// trackArrived runs when a published track's media starts: the stream it
// belongs to goes live once all of its tracks are here.
func (s *Session) trackArrived(c *Connection, t *sfu.Track) {
	s.mu.Lock()
	defer s.unlock()
	st := c.media.pending[t.Mid()]
	if st == nil || c.gone {
		s.log.Warn("track for no pending stream", "connection", c.id, "mid", t.Mid())
		s.later(t.Close)
		return
	}
	delete(c.media.pending, t.Mid())
	t.OnClose(func() { s.trackEnded(st) })
	if t.Kind() == webrtc.RTPCodecTypeVideo {
		t.OnLayerDemand(func(rids []string, active []bool) { s.layerDemand(st, rids, active) })
	}
	if st.pub.attach(t) {
		s.addStreamLocked(st)
	}
}

// layerDemand tells a publishing client which simulcast layers of its
// stream subscribers want, so that it pauses the others. The engine calls
// it on a forwarding goroutine: it never waits for the session.
func (s *Session) layerDemand(st *Stream, rids []string, active []bool) {
	var layers []signaling.Layer
	for i, rid := range rids {
		if rid != "" {
			layers = append(layers, signaling.Layer{RID: rid, Active: active[i]})
		}
	}
	if len(layers) == 0 {
		return
	}
	s.engine.post(func() {
		s.mu.Lock()
		defer s.unlock()
		if !st.gone {
			s.sendLocked(st.connection, &signaling.Message{Type: signaling.TypeLayers, StreamID: st.id, Layers: layers})
		}
	})
}

// trackEnded ends a stream whose publisher stopped sending one of its
// tracks. The engine calls it on the track's reader: it never waits for
// the session.
func (s *Session) trackEnded(st *Stream) {
	s.engine.post(func() {
		s.mu.Lock()
		defer s.unlock()
		s.forgetPendingLocked(st.connection, st)
		s.removeStreamLocked(st, ReasonMediaStopped)
	})
}

// addStreamLocked makes a stream live and announces it to everyone, with
// its connection, which clients that were not told of it need.
func (s *Session) addStreamLocked(st *Stream) {
	if st.connection.gone || s.closed {
		s.later(st.pub.close)
		return
	}
	s.streams[st.id] = st
	if s.muteAll != nil && !s.muteAll.excluded[st.id] {
		s.forceMuteLocked(st)
	}
	d, from := st.describe(), st.connection.describe()
	s.broadcastLocked(&signaling.Message{Type: signaling.TypeStreamCreated, Stream: &d, Connection: &from}, nil)
	if f := s.h.streamCreated; f != nil {
		s.events.post(func() { f(st) })
	}
	s.log.Info("stream created", "stream", st.id, "connection", st.connection.id)
}

// republish handles a client's re-offer on its publishing peer connection.
func (s *Session) republish(c *Connection, m *signaling.Message) (*signaling.Message, error) {
	if err := s.routed(); err != nil {
		return nil, err
	}
	if m.SDP == "" {
		return nil, fmt.Errorf("%w: offer without sdp", ErrBadRequest)
	}
	peer, err := s.peerOf(c)
	if err != nil {
		return nil, err
	}
	answer, err := peer.Publish(m.SDP)
	if err != nil {
		return nil, withCause(fmt.Errorf("%w: the offer could not be applied", ErrBadRequest), err)
	}
	return &signaling.Message{Type: signaling.TypeOK, SDP: answer}, nil
}

// ownStream returns the stream id names if c publishes it.
func (s *Session) ownStreamLocked(c *Connection, id string) (*Stream, error) {
	st, ok := s.streams[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrStreamNotFound, id)
	}
	if st.connection != c {
		return nil, fmt.Errorf("%w: stream %q is not this connection's", ErrBadRequest, id)
	}
	return st, nil
}

// unpublish handles a client's "unpublish".
func (s *Session) unpublish(c *Connection, m *signaling.Message) error {
	s.mu.Lock()
	defer s.unlock()
	st, err := s.ownStreamLocked(c, m.StreamID)
	if err != nil {
		return err
	}
	s.removeStreamLocked(st, ReasonClientUnpublished)
	return nil
}

// updateStream handles a client's "streamUpdate": publishAudio,
// publishVideo or a new video size.
func (s *Session) updateStream(c *Connection, m *signaling.Message) error {
	s.mu.Lock()
	defer s.unlock()
	st, err := s.ownStreamLocked(c, m.StreamID)
	if err != nil {
		return err
	}
	if m.Audio != nil && *m.Audio && st.forceMuted {
		if s.muteAll != nil && !s.muteAll.excluded[st.id] {
			return &PermissionError{Role: c.token.Role, Action: ActionForceMute}
		}
		st.forceMuted = false
		s.later(func() { st.pub.setAudioMuted(false) })
	}
	if m.Audio != nil {
		s.setPropertyLocked(st, "hasAudio", &st.hasAudio, *m.Audio)
	}
	if m.Video != nil {
		s.setPropertyLocked(st, "hasVideo", &st.hasVideo, *m.Video)
	}
	if m.Stream != nil && m.Stream.VideoDimensions != nil {
		d := Dimensions{Width: m.Stream.VideoDimensions.Width, Height: m.Stream.VideoDimensions.Height}
		if d.Width < 0 || d.Height < 0 || d.Width > 16384 || d.Height > 16384 {
			return fmt.Errorf("%w: video dimensions %v", ErrBadRequest, d)
		}
		if d != st.dimensions {
			old := st.dimensions
			st.dimensions = d
			s.propertyChangedLocked(st, "videoDimensions", old, d)
		}
	}
	return nil
}

func (s *Session) setPropertyLocked(st *Stream, name string, field *bool, v bool) {
	if *field == v {
		return
	}
	*field = v
	s.propertyChangedLocked(st, name, !v, v)
}

// propertyChangedLocked tells everyone and the host that a stream property
// changed.
func (s *Session) propertyChangedLocked(st *Stream, name string, old, v any) {
	d := st.describe()
	wire := func(x any) any {
		if dim, ok := x.(Dimensions); ok {
			return signaling.Dimensions{Width: dim.Width, Height: dim.Height}
		}
		return x
	}
	s.broadcastLocked(&signaling.Message{Type: signaling.TypeStreamPropertyChanged, Stream: &d,
		Change: &signaling.PropertyChange{Property: name, OldValue: wire(old), NewValue: wire(v)}}, nil)
	if f := s.h.streamPropertyChanged; f != nil {
		ev := StreamPropertyChange{Stream: st, Property: name, OldValue: old, NewValue: v}
		s.events.post(func() { f(ev) })
	}
}

// subscribe handles a client's "subscribe": the stream's tracks are added
// to the connection's subscribing peer connection, which renegotiates.
func (s *Session) subscribe(c *Connection, m *signaling.Message) error {
	s.mu.Lock()
	st, ok := s.streams[m.StreamID]
	if !ok {
		s.unlock()
		return fmt.Errorf("%w: %q", ErrStreamNotFound, m.StreamID)
	}
	if c.media.subs[st.id] != nil {
		s.unlock()
		return fmt.Errorf("%w: already subscribed to %q", ErrBadRequest, st.id)
	}
	if n, max := s.subscriptionsLocked(), s.srv.cfg.MaxSubscriptionsPerSession; n >= max {
		s.unlock()
		return fmt.Errorf("%w: the session has %d subscriptions", ErrStreamLimit, n)
	}
	sub := &Subscriber{stream: st, conn: c}
	if err := sub.takePreferences(m); err != nil {
		s.unlock()
		return err
	}
	if c.media.subs == nil {
		c.media.subs = map[string]*Subscriber{}
	}
	c.media.subs[st.id] = sub
	if st.pub == nil { // relayed: the publisher's client sends the media
		s.sendLocked(st.connection, &signaling.Message{Type: signaling.TypePeerSubscribed,
			ConnectionID: c.id, StreamID: st.id, Audio: m.Audio, Video: m.Video})
		s.unlock()
		return nil
	}
	s.unlock()

	err := s.attachSubscriber(c, sub, m.Audio == nil || *m.Audio, m.Video == nil || *m.Video)
	if err != nil {
		s.mu.Lock()
		if c.media.subs[st.id] == sub {
			delete(c.media.subs, st.id)
		}
		s.unlock()
	}
	return err
}

// attachSubscriber adds the stream's tracks to the subscriber's peer, in
// one offer to the client.
func (s *Session) attachSubscriber(c *Connection, sub *Subscriber, audio, video bool) error {
	peer, err := s.peerOf(c)
	if err != nil {
		return err
	}
	var subs []sfu.Subscription
	a, v := sub.stream.pub.tracks()
	for _, t := range []*sfu.Track{a, v} {
		if t == nil {
			continue
		}
		want := audio
		if t.Kind() == webrtc.RTPCodecTypeVideo {
			want = video
		}
		subs = append(subs, sfu.Subscription{Track: t, Options: sfu.SubscribeOptions{
			StreamID: sub.stream.id,
			TrackID:  sub.stream.id + "-" + t.Kind().String(),
			Paused:   !want,
		}})
	}
	downs, err := peer.SubscribeTracks(subs...)
	sub.mu.Lock()
	for _, d := range downs {
		if d.Kind() == webrtc.RTPCodecTypeAudio {
			sub.audio = d
		} else {
			sub.video = d
			d.OnQualityChange(func(off bool) { s.videoQualityChanged(c, sub, off) })
		}
	}
	sub.mu.Unlock()
	if err != nil {
		s.detachSubscriber(c, sub)
		return subscribeError(sub.stream.id, err)
	}
	sub.applyPreferences()
	return nil
}

// subscribeError says why the engine could not subscribe a client to a
// stream: its connection's media ended, the stream's track ended, or
// something the client can do nothing about (code 2000).
func subscribeError(streamID string, err error) error {
	switch {
	case errors.Is(err, sfu.ErrPeerClosed):
		return withCause(fmt.Errorf("%w: its media connection is closed", ErrNotConnected), err)
	case errors.Is(err, sfu.ErrTrackClosed):
		return withCause(fmt.Errorf("%w: %q ended", ErrStreamNotFound, streamID), err)
	}
	return fmt.Errorf("crossbar: subscribe to %q: %w", streamID, err)
}

// subscriptionFailed ends the subscription of c that d belongs to, whose
// codec c's answer did not accept, and tells the client why; its other
// subscriptions carry on.
func (s *Session) subscriptionFailed(c *Connection, d *sfu.DownTrack, cause error) {
	s.mu.Lock()
	var sub *Subscriber
	for _, x := range c.media.subs {
		if x.carries(d) {
			sub = x
			break
		}
	}
	if sub == nil {
		s.unlock()
		return
	}
	delete(c.media.subs, sub.stream.id)
	codec := d.Track().Codec().MimeType
	err := fmt.Errorf("%w: this client cannot decode stream %s: its answer left out the %s codec %s", ErrUnsupportedCodec, sub.stream.id, d.Kind(), codec)
	s.sendLocked(c, &signaling.Message{Type: signaling.TypeSubscriptionFailed, StreamID: sub.stream.id, Error: ClientError(err)})
	s.log.Warn("subscription failed", "stream", sub.stream.id, "connection", c.id, "codec", codec, "err", cause)
	s.unlock()
	s.detachSubscriber(c, sub)
}

// detachSubscriber removes a subscription's tracks from the peer.
func (s *Session) detachSubscriber(c *Connection, sub *Subscriber) {
	c.media.mu.Lock()
	peer := c.media.peer
	c.media.mu.Unlock()
	sub.mu.Lock()
	downs := []*sfu.DownTrack{sub.audio, sub.video}
	sub.audio, sub.video = nil, nil
	sub.mu.Unlock()
	for _, d := range downs {
		if d != nil && peer != nil {
			_ = peer.Unsubscribe(d) // ErrNotSubscribed when the track already ended
		}
	}
}

// unsubscribe handles a client's "unsubscribe".
func (s *Session) unsubscribe(c *Connection, m *signaling.Message) error {
	s.mu.Lock()
	sub := c.media.subs[m.StreamID]
	delete(c.media.subs, m.StreamID)
	if sub != nil && sub.stream.pub == nil && !sub.stream.gone {
		s.sendLocked(sub.stream.connection, &signaling.Message{Type: signaling.TypePeerUnsubscribed, ConnectionID: c.id, StreamID: sub.stream.id})
	}
	s.unlock()
	if sub == nil {
		return fmt.Errorf("%w: not subscribed to %q", ErrStreamNotFound, m.StreamID)
	}
	s.detachSubscriber(c, sub)
	return nil
}

// updateSubscription handles a client's "subscription": subscribeToAudio
// and subscribeToVideo.
func (s *Session) updateSubscription(c *Connection, m *signaling.Message) error {
	s.mu.Lock()
	sub := c.media.subs[m.StreamID]
	s.unlock()
	if sub == nil {
		return fmt.Errorf("%w: not subscribed to %q", ErrStreamNotFound, m.StreamID)
	}
	if err := sub.takePreferences(m); err != nil {
		return err
	}
	sub.applyPreferences()
	if m.Audio != nil {
		sub.setPaused(webrtc.RTPCodecTypeAudio, !*m.Audio)
	}
	if m.Video != nil {
		sub.setPaused(webrtc.RTPCodecTypeVideo, !*m.Video)
	}
	return nil
}

// takePreferences records the preferred resolution and frame rate of a
// "subscribe" or "subscription" message.
func (sub *Subscriber) takePreferences(m *signaling.Message) error {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if r := m.PreferredResolution; r != nil {
		if r.Width < 0 || r.Height < 0 || r.Width > 16384 || r.Height > 16384 {
			return fmt.Errorf("%w: preferred resolution %dx%d", ErrBadRequest, r.Width, r.Height)
		}
		sub.prefSize = Dimensions{Width: r.Width, Height: r.Height}
	}
	if f := m.PreferredFrameRate; f != nil {
		if *f < 0 || *f > 1000 || *f != *f {
			return fmt.Errorf("%w: preferred frame rate %v", ErrBadRequest, *f)
		}
		sub.prefFPS = *f
	}
	return nil
}

// videoQualityChanged tells a subscribing client that its video stopped
// because not even the lowest layer fits its bandwidth, or came back. The
// engine calls it on the subscriber's writer: it never waits for the
// session.
func (s *Session) videoQualityChanged(c *Connection, sub *Subscriber, off bool) {
	t := signaling.TypeVideoEnabled
	if off {
		t = signaling.TypeVideoDisabled
	}
	s.engine.post(func() {
		s.mu.Lock()
		defer s.unlock()
		if c.media.subs[sub.stream.id] != sub {
			return
		}
		s.sendLocked(c, &signaling.Message{Type: t, StreamID: sub.stream.id, Reason: "quality"})
		s.log.Info("subscriber video "+string(t), "stream", sub.stream.id, "connection", c.id, "reason", "quality")
	})
}

// answer handles the client's answer to a subscriber offer.
func (s *Session) answer(c *Connection, m *signaling.Message) error {
	if err := s.routed(); err != nil {
		return err
	}
	peer, err := s.peerOf(c)
	if err != nil {
		return err
	}
	if err := peer.SetSubscriberAnswer(m.SDP); err != nil {
		return withCause(fmt.Errorf("%w: the answer could not be applied", ErrBadRequest), err)
	}
	return nil
}

// candidate handles a client's trickled ICE candidate.
func (s *Session) candidate(c *Connection, m *signaling.Message) error {
	if err := s.routed(); err != nil {
		return err
	}
	if m.Candidate == nil {
		return fmt.Errorf("%w: candidate message without a candidate", ErrBadRequest)
	}
	kind := sfu.PCPublish
	if m.PC == signaling.PCSubscriber {
		kind = sfu.PCSubscribe
	}
	peer, err := s.peerOf(c)
	if err != nil {
		return err
	}
	err = peer.AddICECandidate(kind, webrtc.ICECandidateInit{
		Candidate: m.Candidate.Candidate, SDPMid: m.Candidate.SDPMid, SDPMLineIndex: m.Candidate.SDPMLineIndex,
	})
	if err != nil {
		return withCause(fmt.Errorf("%w: the candidate could not be added", ErrBadRequest), err)
	}
	return nil
}

// ForceMuteStream stops a stream's audio from reaching its subscribers; the
// stream's hasAudio becomes false and its publisher gets muteForced. The
// publisher may unmute itself.
func (s *Session) ForceMuteStream(streamID string) error {
	s.mu.Lock()
	defer s.unlock()
	st, ok := s.streams[streamID]
	if !ok {
		return fmt.Errorf("%w: %q", ErrStreamNotFound, streamID)
	}
	s.forceMuteLocked(st)
	yes := true
	s.sendLocked(st.connection, &signaling.Message{Type: signaling.TypeMuteForced, Active: &yes, StreamID: st.id})
	return nil
}

func (s *Session) forceMuteLocked(st *Stream) {
	st.forceMuted = true
	s.later(func() { st.pub.setAudioMuted(true) })
	s.setPropertyLocked(st, "hasAudio", &st.hasAudio, false)
}

// ForceMuteAll mutes every stream but the excluded ones, and every stream
// published later, until DisableForceMute; publishers cannot unmute
// meanwhile. Every connection gets muteForced.
func (s *Session) ForceMuteAll(excluded ...string) error {
	s.mu.Lock()
	defer s.unlock()
	ma := &muteAll{excluded: map[string]bool{}}
	for _, id := range excluded {
		ma.excluded[id] = true
	}
	s.muteAll = ma
	for _, st := range s.streamsLocked() {
		if !ma.excluded[st.id] {
			s.forceMuteLocked(st)
		}
	}
	yes := true
	s.broadcastLocked(&signaling.Message{Type: signaling.TypeMuteForced, Active: &yes}, nil)
	return nil
}

// DisableForceMute ends ForceMuteAll: audio flows again as soon as each
// publisher unmutes. Every connection gets muteForced with active false.
func (s *Session) DisableForceMute() error {
	s.mu.Lock()
	defer s.unlock()
	s.muteAll = nil
	for _, st := range s.streamsLocked() {
		if st.forceMuted {
			st.forceMuted = false
			s.later(func() { st.pub.setAudioMuted(false) })
		}
	}
	no := false
	s.broadcastLocked(&signaling.Message{Type: signaling.TypeMuteForced, Active: &no}, nil)
	return nil
}

// SubscribeOptions are the options of Session.Subscribe: which of the
// stream's media to read, at least one.
type SubscribeOptions struct {
	Audio, Video bool
}

// Subscribe reads a stream's media in process, as a recorder would: the
// host's own subscription, not a client's. Read it with ReadRTP; end it
// with Close.
func (s *Session) Subscribe(streamID string, opts SubscribeOptions) (*Subscriber, error) {
	if !opts.Audio && !opts.Video {
		return nil, fmt.Errorf("%w: subscribe to neither audio nor video", ErrInvalidOption)
	}
	st, err := s.Stream(streamID)
	if err != nil {
		return nil, err
	}
	if st.pub == nil {
		return nil, s.routed()
	}
	sub := &Subscriber{stream: st, readers: map[webrtc.RTPCodecType]*sfu.Reader{}}
	a, v := st.pub.tracks()
	for _, t := range []*sfu.Track{a, v} {
		if t == nil || (t.Kind() == webrtc.RTPCodecTypeAudio && !opts.Audio) || (t.Kind() == webrtc.RTPCodecTypeVideo && !opts.Video) {
			continue
		}
		r, err := t.NewReader(0)
		if err != nil {
			sub.close()
			return nil, fmt.Errorf("%w: %q: %w", ErrStreamNotFound, streamID, err)
		}
		sub.readers[t.Kind()] = r
	}
	return sub, nil
}
