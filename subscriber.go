package crossbar

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar/sfu"
)

// Subscriber is one subscription to a stream: a client connection's, fed
// over its subscribing peer connection, or the host's own, read in process
// (Session.Subscribe).
type Subscriber struct {
	stream *Stream
	conn   *Connection // nil for the host's subscribers

	mu           sync.Mutex
	audio, video *sfu.DownTrack // a connection's
	readers      map[webrtc.RTPCodecType]*sfu.Reader
	prefSize     Dimensions // preferred video resolution; zero: the highest
	prefFPS      float64    // preferred frame rate; zero: the highest
	// binds counts the times its tracks were bound: a stream that moved
	// between nodes is bound anew (move.go), under new track ids, as the
	// old ones are still in the offer that adds the new.
	binds int
	// captions: the client receives the stream's captions
	// (subscribeToCaptions). Guarded by the session's mu.
	captions bool
}

// SubscriberStats are a subscriber's counters, per track.
type SubscriberStats struct {
	Audio, Video sfu.DownTrackStats
}

// Stream returns the subscribed stream.
func (sub *Subscriber) Stream() *Stream { return sub.stream }

// Connection returns the subscribing connection, or nil for the host.
func (sub *Subscriber) Connection() *Connection { return sub.conn }

// carries reports whether d is one of the subscription's tracks.
func (sub *Subscriber) carries(d *sfu.DownTrack) bool {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return d != nil && (sub.audio == d || sub.video == d)
}

// Stats returns the subscriber's counters.
func (sub *Subscriber) Stats() SubscriberStats {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	var st SubscriberStats
	if sub.audio != nil {
		st.Audio = sub.audio.Stats()
	}
	if sub.video != nil {
		st.Video = sub.video.Stats()
	}
	if r := sub.readers[webrtc.RTPCodecTypeAudio]; r != nil {
		st.Audio = r.Stats()
	}
	if r := sub.readers[webrtc.RTPCodecTypeVideo]; r != nil {
		st.Video = r.Stats()
	}
	return st
}

// ReadRTP returns the next packet of the host subscriber's audio or video
// track, rewritten to one continuous stream. It returns io.EOF once the
// stream or the subscription ended.
func (sub *Subscriber) ReadRTP(ctx context.Context, kind webrtc.RTPCodecType) (*rtp.Packet, error) {
	sub.mu.Lock()
	r := sub.readers[kind]
	sub.mu.Unlock()
	if sub.conn != nil {
		return nil, ErrNotReadable
	}
	if r == nil {
		return nil, fmt.Errorf("crossbar: subscription to %s has no %s track", sub.stream.id, kind)
	}
	return r.ReadRTP(ctx)
}

// SetPreferredResolution asks for the simulcast layer closest to, and at
// least, d (or the highest one if none is that large); a zero d asks for the
// highest. The subscriber still gets less when its bandwidth is short.
func (sub *Subscriber) SetPreferredResolution(d Dimensions) {
	sub.mu.Lock()
	sub.prefSize = Dimensions{Width: max(d.Width, 0), Height: max(d.Height, 0)}
	sub.mu.Unlock()
	sub.applyPreferences()
}

// SetPreferredFrameRate asks for the fewest temporal layers (codecs that
// have them: VP8) that give at least fps frames a second; zero asks for all.
func (sub *Subscriber) SetPreferredFrameRate(fps float64) {
	sub.mu.Lock()
	sub.prefFPS = max(fps, 0)
	sub.mu.Unlock()
	sub.applyPreferences()
}

// PreferredResolution and PreferredFrameRate return the preferences set.
func (sub *Subscriber) PreferredResolution() Dimensions {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.prefSize
}

// PreferredFrameRate returns the preferred frame rate; zero: the highest.
func (sub *Subscriber) PreferredFrameRate() float64 {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.prefFPS
}

// VideoLayer returns the simulcast layer the subscriber receives (0 the
// lowest), or -1 when it receives none (paused, video off for quality, or
// not started yet).
func (sub *Subscriber) VideoLayer() int {
	sub.mu.Lock()
	d := sub.video
	sub.mu.Unlock()
	if d == nil {
		return -1
	}
	return d.CurrentLayer()
}

// applyPreferences hands the preferences to the video DownTrack.
func (sub *Subscriber) applyPreferences() {
	sub.mu.Lock()
	d, size, fps := sub.video, sub.prefSize, sub.prefFPS
	sub.mu.Unlock()
	if d != nil {
		d.SetPreferredVideo(size.Width, size.Height, fps)
	}
}

// setPaused stops or resumes one kind of a client subscription
// (subscribeToAudio / subscribeToVideo).
func (sub *Subscriber) setPaused(kind webrtc.RTPCodecType, paused bool) {
	sub.mu.Lock()
	d := sub.video
	if kind == webrtc.RTPCodecTypeAudio {
		d = sub.audio
	}
	sub.mu.Unlock()
	if d != nil {
		d.SetPaused(paused)
	}
}

// Close ends the subscription: the host's readers, or a client
// connection's copies (the client sees its subscriber destroyed).
func (sub *Subscriber) Close() error {
	if sub.conn == nil {
		sub.close()
		return nil
	}
	return sub.conn.session.unsubscribe(sub.conn, sub.stream.id)
}

// close ends the subscription's readers; a connection's copies go with its
// peer or with Close.
func (sub *Subscriber) close() {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	for _, r := range sub.readers {
		r.Close()
	}
}

// subscribeRequest is a client's "subscribe" or "subscription": which of
// a stream's media it wants (nil: unchanged, or all on subscribe), and at
// what size and rate.
type subscribeRequest struct {
	streamID               string
	audio, video, captions *bool
	size                   *Dimensions
	fps                    *float64
}

// subscribe subscribes a client connection to a stream: in a routed
// session its tracks are added to the connection's subscribing peer
// connection, which renegotiates; in a relayed one the publisher's client
// is told to negotiate with it.
func (s *Session) subscribe(c *Connection, r subscribeRequest) error {
	s.mu.Lock()
	st, ok := s.streams[r.streamID]
	if !ok {
		s.unlock()
		return fmt.Errorf("%w: %q", ErrStreamNotFound, r.streamID)
	}
	if c.media.subs[st.id] != nil {
		s.unlock()
		return fmt.Errorf("%w: already subscribed to %q", ErrBadRequest, st.id)
	}
	if err := s.reachableLocked(st); err != nil {
		s.unlock()
		return err
	}
	if n, max := s.subscriptionsLocked(), s.srv.cfg.MaxSubscriptionsPerSession; n >= max {
		s.unlock()
		return fmt.Errorf("%w: the session has %d subscriptions", ErrStreamLimit, n)
	}
	sub := &Subscriber{stream: st, conn: c, captions: r.captions != nil && *r.captions}
	if err := sub.takePreferences(r); err != nil {
		s.unlock()
		return err
	}
	if st.pub == nil { // relayed: the publisher's client sends the media
		s.relaySubscribedLocked(c, sub, r.audio, r.video)
		s.unlock()
		return nil
	}
	c.media.addSub(sub)
	s.unlock()

	err := s.importStream(st)
	if err == nil {
		err = s.attachSubscriber(c, sub, r.audio == nil || *r.audio, r.video == nil || *r.video)
	}
	if err != nil {
		s.mu.Lock()
		if c.media.subs[st.id] == sub {
			delete(c.media.subs, st.id)
		}
		s.unlock()
	}
	return err
}

// subscriptionsLocked counts the subscriptions of every connection.
func (s *Session) subscriptionsLocked() int {
	n := 0
	for _, c := range s.conns {
		n += len(c.media.subs)
	}
	return n
}

// attachSubscriber adds the stream's tracks to the subscriber's peer, in
// one offer to the client.
func (s *Session) attachSubscriber(c *Connection, sub *Subscriber, audio, video bool) error {
	a, v := sub.stream.pub.tracks()
	if a == nil && v == nil {
		return nil // a signal-only stream: nothing to forward
	}
	peer, err := s.peerOf(c)
	if err != nil {
		return err
	}
	var subs []sfu.Subscription
	sub.mu.Lock()
	sub.binds++
	binds := sub.binds
	sub.mu.Unlock()
	for _, t := range []*sfu.Track{a, v} {
		if t == nil {
			continue
		}
		want := audio
		if t.Kind() == webrtc.RTPCodecTypeVideo {
			want = video
		}
		id := sub.stream.id + "-" + t.Kind().String()
		if binds > 1 {
			id += "-" + strconv.Itoa(binds)
		}
		subs = append(subs, sfu.Subscription{Track: t, Options: sfu.SubscribeOptions{
			StreamID: sub.stream.id,
			TrackID:  id,
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

// unsubscribe ends a client connection's subscription to a stream.
func (s *Session) unsubscribe(c *Connection, streamID string) error {
	s.mu.Lock()
	sub := c.media.subs[streamID]
	delete(c.media.subs, streamID)
	if sub != nil && sub.stream.pub == nil && !sub.stream.gone {
		s.relayUnsubscribedLocked(c, sub.stream)
	}
	s.unlock()
	if sub == nil {
		return fmt.Errorf("%w: not subscribed to %q", ErrStreamNotFound, streamID)
	}
	s.detachSubscriber(c, sub)
	return nil
}

// updateSubscription changes what a client connection's subscription
// carries: subscribeToAudio, subscribeToVideo, its preferred size and rate.
func (s *Session) updateSubscription(c *Connection, r subscribeRequest) error {
	s.mu.Lock()
	sub := c.media.subs[r.streamID]
	if sub != nil && r.captions != nil {
		sub.captions = *r.captions
	}
	s.unlock()
	if sub == nil {
		return fmt.Errorf("%w: not subscribed to %q", ErrStreamNotFound, r.streamID)
	}
	if err := sub.takePreferences(r); err != nil {
		return err
	}
	sub.applyPreferences()
	if r.audio != nil {
		sub.setPaused(webrtc.RTPCodecTypeAudio, !*r.audio)
	}
	if r.video != nil {
		sub.setPaused(webrtc.RTPCodecTypeVideo, !*r.video)
	}
	return nil
}

// takePreferences records the preferred resolution and frame rate of a
// request.
func (sub *Subscriber) takePreferences(r subscribeRequest) error {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if d := r.size; d != nil {
		if !validDimensions(*d) {
			return fmt.Errorf("%w: preferred resolution %dx%d", ErrBadRequest, d.Width, d.Height)
		}
		sub.prefSize = *d
	}
	if f := r.fps; f != nil {
		if *f < 0 || *f > 1000 || *f != *f {
			return fmt.Errorf("%w: preferred frame rate %v", ErrBadRequest, *f)
		}
		sub.prefFPS = *f
	}
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
	if err := s.routed(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	err = s.reachableLocked(st)
	s.unlock()
	if err != nil {
		return nil, err
	}
	if err := s.importStream(st); err != nil {
		return nil, err
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
