package crossbar

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar/sfu"
)

// The session's side of the forwarding engine: each connection's Peer,
// the negotiation of its peer connections, and the engine's events, which
// arrive on media goroutines and are posted to the session's engine queue
// so that no packet path ever waits for the session lock.

// connMedia is a connection's side of the forwarding engine.
type connMedia struct {
	mu     sync.Mutex // serialises creating and closing the peer
	peer   *sfu.Peer
	closed bool

	// Guarded by session.mu.
	pending map[string]*Stream     // by mid: streams whose tracks have not all arrived
	subs    map[string]*Subscriber // by stream id
	// failed: the publishing peer connection failed, and was not
	// restarted yet; restartWait runs while its client may restart it.
	failed      bool
	restartWait *time.Timer
	// publishing is the state of the publishing peer connection.
	publishing webrtc.PeerConnectionState
}

// addSub adds a subscription. The caller holds the session's lock.
func (m *connMedia) addSub(sub *Subscriber) {
	if m.subs == nil {
		m.subs = map[string]*Subscriber{}
	}
	m.subs[sub.stream.id] = sub
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
		Logger:            s.srv.cfg.Media.Logger.With("session", s.info.ID, "connection", c.id),
		PublishVideoCodec: s.publishVideoCodec,
		OnTrack:           func(t *sfu.Track) { s.trackArrived(c, t) },
		OnSubscriberOffer: func(sdp string, n uint64) {
			s.mu.Lock()
			defer s.unlock()
			s.tellLocked(c, subscriberOffer{sdp, n})
		},
		OnConnectionStateChange: func(k sfu.PCKind, st webrtc.PeerConnectionState) {
			s.engine.post(func() { s.peerStateChanged(c, k, st) })
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

// routed returns an error for media requests in relayed sessions.
func (s *Session) routed() error {
	if s.info.MediaMode != Routed {
		return fmt.Errorf("%w: session %s is relayed: media goes peer to peer", ErrBadRequest, s.info.ID)
	}
	return nil
}

// answer applies the client's answer to a subscriber offer.
func (s *Session) answer(c *Connection, sdp string, n uint64) error {
	if err := s.routed(); err != nil {
		return err
	}
	peer, err := s.peerOf(c)
	if err != nil {
		return err
	}
	err = peer.SetSubscriberAnswer(sdp, n)
	if errors.Is(err, sfu.ErrStaleAnswer) {
		return nil // sent again after a lost link: applied already, or overtaken
	}
	if err != nil {
		return withCause(fmt.Errorf("%w: the answer could not be applied", ErrBadRequest), err)
	}
	return nil
}

// candidate adds a client's trickled ICE candidate to one of its peer
// connections.
func (s *Session) candidate(c *Connection, kind sfu.PCKind, cand webrtc.ICECandidateInit) error {
	if err := s.routed(); err != nil {
		return err
	}
	peer, err := s.peerOf(c)
	if err != nil {
		return err
	}
	if err := peer.AddICECandidate(kind, cand); err != nil {
		return withCause(fmt.Errorf("%w: the candidate could not be added", ErrBadRequest), err)
	}
	return nil
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
	switch {
	case !st.pub.attach(t):
	case st.moved:
		s.movedHereLocked(st)
	default:
		s.addStreamLocked(st)
	}
}

// layerDemand tells a publishing client which simulcast layers of its
// stream subscribers want, so that it pauses the others. The engine calls
// it on a forwarding goroutine: it never waits for the session.
func (s *Session) layerDemand(st *Stream, rids []string, active []bool) {
	if !slices.ContainsFunc(rids, func(rid string) bool { return rid != "" }) {
		return // not simulcast
	}
	n := layersWanted{streamID: st.id, rids: rids, active: active}
	s.engine.post(func() {
		s.mu.Lock()
		defer s.unlock()
		if !st.gone {
			s.tellLocked(st.connection, n)
		}
	})
}

// trackEnded ends a stream whose publisher stopped sending one of its
// tracks, unless the stream moved to another node, which ends it if need
// be. The engine calls it on the track's reader: it never waits for the
// session.
func (s *Session) trackEnded(st *Stream) {
	s.engine.post(func() {
		s.mu.Lock()
		defer s.unlock()
		if st.connection.remote() {
			return
		}
		s.forgetPendingLocked(st.connection, st)
		s.removeStreamLocked(st, ReasonMediaStopped)
	})
}

// peerStateChanged follows a connection's peer connections. When one
// hears nothing from the client for a while (disconnected), the client is
// told (pathLost), so that it restarts ICE without waiting for its own
// side to notice: a browser takes 5-8 s to. When the publishing one fails
// (nothing arrived for the engine's PublishTimeout: the client died or its
// network changed), the streams on it wait for the client to restart ICE,
// frozen: for PublishTimeout again while the client's signaling is up, and
// while it is not, for as long as the connection waits to be resumed (then
// PublishTimeout again). The streams still without media then end, reason
// mediaStopped.
func (s *Session) peerStateChanged(c *Connection, k sfu.PCKind, st webrtc.PeerConnectionState) {
	s.mu.Lock()
	defer s.unlock()
	if c.gone || c.remote() {
		return // ended, or its media here is retired (move.go)
	}
	if st == webrtc.PeerConnectionStateDisconnected && c.link != nil {
		s.tellLocked(c, pathLost{k})
	}
	if k != sfu.PCPublish {
		return
	}
	c.media.publishing = st
	switch st {
	case webrtc.PeerConnectionStateFailed:
		c.media.failed = true
		s.awaitRestartLocked(c)
	case webrtc.PeerConnectionStateConnected:
		if c.media.failed {
			s.log.Info("publishing peer connection restarted", "connection", c.id)
		}
		c.media.failed = false
		c.media.stopRestartWait()
	}
}

// awaitRestartLocked (re)starts the wait for the client of a connection
// whose publishing peer connection failed to restart ICE, if its
// signaling is up.
func (s *Session) awaitRestartLocked(c *Connection) {
	m := &c.media
	if !m.failed || c.link == nil {
		return
	}
	m.stopRestartWait()
	m.restartWait = time.AfterFunc(s.srv.cfg.Media.PublishTimeout, func() {
		s.engine.post(func() {
			s.mu.Lock()
			defer s.unlock()
			if !c.gone && m.failed && c.link != nil {
				s.mediaFailedLocked(c)
			}
		})
	})
}

// stopRestartWait stops the wait for an ICE restart. The caller holds the
// session's lock.
func (m *connMedia) stopRestartWait() {
	if m.restartWait != nil {
		m.restartWait.Stop()
		m.restartWait = nil
	}
}

// mediaFailedLocked ends the streams of a connection whose publishing peer
// connection failed and was not restarted. Streams whose tracks had not all
// arrived end too; they never will.
func (s *Session) mediaFailedLocked(c *Connection) {
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

// restartICE renegotiates a client's subscribing peer connection with new
// ICE credentials, as a client whose network changed asks; it restarts
// its publishing one itself, with an offer.
func (s *Session) restartICE(c *Connection) error {
	if err := s.routed(); err != nil {
		return err
	}
	c.media.mu.Lock()
	peer := c.media.peer
	c.media.mu.Unlock()
	if peer == nil {
		return nil // nothing to restart
	}
	if err := peer.RestartICE(); err != nil {
		return fmt.Errorf("crossbar: restart ICE of connection %s: %w", c.id, err)
	}
	return nil
}

// videoQualityChanged tells a subscribing client that its video stopped
// because not even the lowest layer fits its bandwidth, or came back. The
// engine calls it on the subscriber's writer: it never waits for the
// session.
func (s *Session) videoQualityChanged(c *Connection, sub *Subscriber, off bool) {
	s.engine.post(func() {
		s.mu.Lock()
		defer s.unlock()
		if c.media.subs[sub.stream.id] != sub {
			return
		}
		s.tellLocked(c, videoQuality{streamID: sub.stream.id, off: off})
		s.log.Info("subscriber video quality", "stream", sub.stream.id, "connection", c.id, "off", off)
	})
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
	s.tellLocked(c, subscriptionFailed{streamID: sub.stream.id, err: err})
	s.log.Warn("subscription failed", "stream", sub.stream.id, "connection", c.id, "codec", codec, "err", cause)
	s.unlock()
	s.detachSubscriber(c, sub)
}
