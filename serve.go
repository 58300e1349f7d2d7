package crossbar

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar/sfu"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// connectTimeout bounds the wait for a new transport's "connect" message.
const connectTimeout = 10 * time.Second

// Message rate allowed from one client: a sustained rate and a burst.
const (
	clientRate  = 50 // messages per second
	clientBurst = 100
)

// requestQueue is how many of a client's requests wait while one is
// carried out. Requests are carried out one at a time, in order, on a
// goroutine of their own, so that a slow one (a subscription to a stream
// of another node waits for its media to cross the node link) does not
// keep the client's pings from being answered: a client takes a link
// whose pings go unanswered for dead. When the queue is full, reading
// waits.
const requestQueue = 32

// ServeTransport runs the client protocol on one transport until the client
// leaves, the transport fails or ctx ends. The first message must be
// "connect" with a token; every later action is checked against that token.
// Host apps that carry signaling over a channel of their own call it with
// their Transport; Handler calls it for WebSocket clients. The transport is
// closed when ServeTransport returns, however the client went.
//
// ServeTransport notices a link that died without failing (see
// Config.PingInterval): it runs the keep-alive of a transport that has one
// (signaling.KeepAliver), and otherwise takes the link for dead when
// nothing came from the client for PingInterval+PingTimeout. The transport
// is then dropped, and the connection waits the reconnect grace period for
// the client to resume.
func (srv *Server) ServeTransport(ctx context.Context, t signaling.Transport) error {
	idle := srv.cfg.PingInterval + srv.cfg.PingTimeout
	var joined atomic.Pointer[Connection] // for the keep-alive's log, once known
	if ka, ok := t.(signaling.KeepAliver); ok {
		stop := srv.keepAlive(ctx, ka, &joined)
		defer stop()
		idle = 0 // the transport's keep-alive fails the read
	}
	c, l, err := srv.handshake(ctx, t)
	if err != nil {
		return err
	}
	joined.Store(c)
	defer func() {
		// The writer flushes what a departing client is owed, and closes
		// t in an orderly way when it can; whatever happened, t is closed
		// once it stopped.
		<-l.exited
		signaling.CloseNow(t)
	}()
	s := c.session
	reqs := make(chan *signaling.Message, requestQueue)
	handled := make(chan struct{})
	go func() {
		defer close(handled)
		for m := range reqs {
			if m.Type == signaling.TypeDisconnect {
				s.reply(c, m.ID, nil, nil)
				_ = s.disconnect(c.id, ReasonClientDisconnected) // already gone: fine
				continue
			}
			r, err := s.handle(ctx, c, m)
			s.reply(c, m.ID, r, err)
		}
	}()
	// Every request read is carried out before the link is taken for
	// ended, or the connection for gone.
	done := func() { close(reqs); <-handled }
	limit := newRateLimiter(clientRate, clientBurst)
	for first := true; ; first = false {
		b, err := readWithin(ctx, t, idle)
		if err != nil {
			done()
			s.linkEnded(c, l, errors.Is(err, signaling.ErrClosed))
			return err
		}
		if first {
			s.confirm(c)
		}
		m, err := signaling.Decode(b)
		if err != nil {
			s.reply(c, 0, nil, fmt.Errorf("%w: %w", ErrBadRequest, err))
			continue
		}
		srv.metrics.message(m.Type)
		if !limit.allow(time.Now(), 1) {
			s.reply(c, m.ID, nil, ErrRateLimited) // the request is answered: its caller does not wait
			continue
		}
		if m.Type == signaling.TypePing { // needs no permission, nor to wait for a request: answered at once
			s.reply(c, m.ID, nil, nil)
			continue
		}
		reqs <- m
		if m.Type == signaling.TypeDisconnect {
			done()
			return nil
		}
	}
}

// readWithin reads t's next message, and gives up when none came within
// idle, unless idle is 0: the client is expected to ping meanwhile.
func readWithin(ctx context.Context, t signaling.Transport, idle time.Duration) ([]byte, error) {
	if idle <= 0 {
		return t.ReadMessage(ctx)
	}
	rctx, cancel := context.WithTimeout(ctx, idle)
	defer cancel()
	b, err := t.ReadMessage(rctx)
	if err != nil && ctx.Err() == nil && errors.Is(rctx.Err(), context.DeadlineExceeded) {
		return nil, fmt.Errorf("crossbar: nothing from the client within %v: %w", idle, err)
	}
	return b, err
}

// keepAlive runs t's keep-alive until ctx ends or the returned function is
// called, which waits for it to stop. A client that stops answering is
// dropped: a dead network is noticed within PingInterval+PingTimeout, and
// the connection then waits the reconnect grace period for the client to
// resume instead of staying open forever. The log says which connection
// it was, once joined holds it.
func (srv *Server) keepAlive(ctx context.Context, t signaling.KeepAliver, joined *atomic.Pointer[Connection]) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := t.KeepAlive(ctx, srv.cfg.PingInterval, srv.cfg.PingTimeout)
		if err == nil || ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return // stopped, not failed: a failure ends the link, which stops it too
		}
		if c := joined.Load(); c != nil {
			c.session.log.Info("client stopped answering pings", "connection", c.id, "err", err)
			return
		}
		srv.log.Info("client stopped answering pings before joining", "err", err)
	}()
	return func() {
		cancel()
		<-done
	}
}

// handshake reads the "connect" message and joins (or resumes) the
// connection it asks for. On failure it tells the client why and closes t.
func (srv *Server) handshake(ctx context.Context, t signaling.Transport) (*Connection, *link, error) {
	m, err := readConnect(ctx, t)
	var c *Connection
	l := newLink(t)
	if m != nil {
		srv.metrics.message(m.Type)
	}
	if err == nil {
		start := time.Now()
		if c, err = srv.connect(ctx, m, l); err == nil {
			srv.metrics.joined(start)
		}
	}
	if err != nil {
		var re uint64
		if m != nil {
			re = m.ID
		}
		ce := ClientError(err)
		srv.metrics.reject(ce)
		if b, encErr := signaling.Encode(&signaling.Message{Type: signaling.TypeError, Re: re, Error: ce}); encErr == nil {
			write(t, b)
		}
		_ = t.Close() // nothing more to tell the client
		return nil, nil, err
	}
	return c, l, nil
}

func readConnect(ctx context.Context, t signaling.Transport) (*signaling.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	b, err := t.ReadMessage(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: no connect message: %v", ErrNotConnected, err)
	}
	m, err := signaling.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if m.Type != signaling.TypeConnect {
		return m, fmt.Errorf("%w: %q before connect", ErrNotConnected, m.Type)
	}
	return m, nil
}

// connect verifies the token of a "connect" message and joins its session.
func (srv *Server) connect(ctx context.Context, m *signaling.Message, l *link) (*Connection, error) {
	if srv.isDraining() {
		return nil, ErrNodeDraining
	}
	tok, err := srv.VerifyToken(ctx, m.Token)
	if err != nil {
		return nil, err
	}
	if m.SessionID != "" && m.SessionID != tok.SessionID {
		return nil, fmt.Errorf("%w: token is for %q, not %q", ErrWrongSession, tok.SessionID, m.SessionID)
	}
	s, err := srv.Session(ctx, tok.SessionID)
	if err != nil {
		return nil, err
	}
	if r := m.Resume; r != nil {
		req := resumeRequest{connectionID: r.ConnectionID, key: r.Key, received: r.Received, signals: r.Signals,
			addr: remoteHost(l.t), suppressed: m.ConnectionEventsSuppressed}
		if srv.bus != nil {
			req.nodes = srv.members() // read before the session's lock, which the members' lock may not follow
		}
		return s.resume(tok, req, l, m.ID)
	}
	if s.info.E2EE && !m.E2EE {
		return nil, ErrEncryptionSecretMissing
	}
	return s.join(tok, l, m.ID, remoteHost(l.t), m.ConnectionEventsSuppressed, decodable(m.VideoCodecs))
}

// remoteHost returns the host part of a transport's remote address, if it
// tells one (signaling.Addressed).
func remoteHost(t signaling.Transport) string {
	a, ok := t.(signaling.Addressed)
	if !ok {
		return ""
	}
	addr := a.RemoteAddr()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// authorize checks that c's token is still valid and permits a.
func (s *Session) authorize(ctx context.Context, c *Connection, a Action) error {
	if !s.srv.cfg.Clock.Now().Before(c.token.ExpireTime) {
		return fmt.Errorf("%w: expired at %s", ErrTokenExpired, c.token.ExpireTime.UTC().Format(time.RFC3339))
	}
	// In a cluster a revocation ends the token's connections on every
	// node as it is made (Server.RevokeToken): no need to ask the bus.
	if !s.clustered() {
		if err := s.srv.checkRevoked(ctx, c.token.ID); err != nil {
			return err
		}
	}
	if !c.token.Role.Can(a) {
		return &PermissionError{Role: c.token.Role, Action: a}
	}
	return nil
}

// handle carries out one client request and returns its reply, nil for a
// plain "ok".
func (s *Session) handle(ctx context.Context, c *Connection, m *signaling.Message) (*signaling.Message, error) {
	r, ok := requests[m.Type]
	if !ok {
		return nil, fmt.Errorf("%w: unknown message type %q", ErrBadRequest, m.Type)
	}
	if err := s.authorize(ctx, c, r.action); err != nil {
		return nil, err
	}
	return r.do(s, c, m)
}

// request is how a client request is carried out: the action it needs
// permission for, and what it does, read off the wire, with its reply
// (nil: a plain "ok").
type request struct {
	action Action
	do     func(s *Session, c *Connection, m *signaling.Message) (*signaling.Message, error)
}

// ok turns an error into a request's result.
func ok(err error) (*signaling.Message, error) { return nil, err }

// requests are the client requests. Negotiation messages need the right
// to publish or subscribe, whichever peer connection they are for;
// ActionConnect stands for "either".
var requests = map[signaling.Type]request{
	signaling.TypeSignal: {ActionSignal, func(s *Session, c *Connection, m *signaling.Message) (*signaling.Message, error) {
		if m.Signal == nil {
			return nil, fmt.Errorf("%w: signal without a signal field", ErrBadRequest)
		}
		return ok(s.signal(c, SignalOptions{To: m.Signal.To, Type: m.Signal.Type, Data: m.Signal.Data}))
	}},
	signaling.TypeForceDisconnect: {ActionForceDisconnect, func(s *Session, _ *Connection, m *signaling.Message) (*signaling.Message, error) {
		return ok(s.ForceDisconnect(m.ConnectionID))
	}},
	signaling.TypeForceUnpublish: {ActionForceUnpublish, func(s *Session, _ *Connection, m *signaling.Message) (*signaling.Message, error) {
		return ok(s.ForceUnpublish(m.StreamID))
	}},
	signaling.TypeForceMuteStream: {ActionForceMute, func(s *Session, _ *Connection, m *signaling.Message) (*signaling.Message, error) {
		return ok(s.ForceMuteStream(m.StreamID))
	}},
	signaling.TypeForceMuteAll: {ActionForceMute, func(s *Session, _ *Connection, m *signaling.Message) (*signaling.Message, error) {
		return ok(s.ForceMuteAll(m.Excluded...))
	}},
	signaling.TypeDisableForceMute: {ActionForceMute, func(s *Session, _ *Connection, _ *signaling.Message) (*signaling.Message, error) {
		return ok(s.DisableForceMute())
	}},
	signaling.TypePublish: {ActionPublish, func(s *Session, c *Connection, m *signaling.Message) (*signaling.Message, error) {
		r, err := publishRequestOf(m)
		if err != nil {
			return nil, err
		}
		id, answer, err := s.publish(c, r)
		if err != nil {
			return nil, err
		}
		return &signaling.Message{Type: signaling.TypeOK, StreamID: id, SDP: answer}, nil
	}},
	signaling.TypeOffer: {ActionPublish, func(s *Session, c *Connection, m *signaling.Message) (*signaling.Message, error) {
		answer, err := s.republish(c, m.SDP)
		if err != nil {
			return nil, err
		}
		return &signaling.Message{Type: signaling.TypeOK, SDP: answer}, nil
	}},
	signaling.TypeUnpublish: {ActionPublish, func(s *Session, c *Connection, m *signaling.Message) (*signaling.Message, error) {
		return ok(s.unpublish(c, m.StreamID))
	}},
	signaling.TypeStreamUpdate: {ActionPublish, func(s *Session, c *Connection, m *signaling.Message) (*signaling.Message, error) {
		u := streamUpdate{streamID: m.StreamID, audio: m.Audio, video: m.Video, captions: m.Captions}
		if m.Stream != nil && m.Stream.VideoDimensions != nil {
			u.dimensions = &Dimensions{Width: m.Stream.VideoDimensions.Width, Height: m.Stream.VideoDimensions.Height}
		}
		return ok(s.updateStream(c, u))
	}},
	signaling.TypeSubscribe: {ActionSubscribe, func(s *Session, c *Connection, m *signaling.Message) (*signaling.Message, error) {
		return ok(s.subscribe(c, subscribeRequestOf(m)))
	}},
	signaling.TypeSubscription: {ActionSubscribe, func(s *Session, c *Connection, m *signaling.Message) (*signaling.Message, error) {
		return ok(s.updateSubscription(c, subscribeRequestOf(m)))
	}},
	signaling.TypeUnsubscribe: {ActionSubscribe, func(s *Session, c *Connection, m *signaling.Message) (*signaling.Message, error) {
		return ok(s.unsubscribe(c, m.StreamID))
	}},
	signaling.TypeAnswer: {ActionSubscribe, func(s *Session, c *Connection, m *signaling.Message) (*signaling.Message, error) {
		return ok(s.answer(c, m.SDP, m.Negotiation))
	}},
	signaling.TypeICERestart: {ActionConnect, func(s *Session, c *Connection, _ *signaling.Message) (*signaling.Message, error) {
		return ok(s.restartICE(c))
	}},
	signaling.TypeCandidate: {ActionConnect, func(s *Session, c *Connection, m *signaling.Message) (*signaling.Message, error) {
		if m.Candidate == nil {
			return nil, fmt.Errorf("%w: candidate message without a candidate", ErrBadRequest)
		}
		kind := sfu.PCPublish
		if m.PC == signaling.PCSubscriber {
			kind = sfu.PCSubscribe
		}
		return ok(s.candidate(c, kind, candidateOf(m.Candidate)))
	}},
	signaling.TypeRelay: {ActionConnect, func(s *Session, c *Connection, m *signaling.Message) (*signaling.Message, error) {
		r := relayRequest{to: m.ConnectionID, streamID: m.StreamID, sdp: m.SDP}
		if m.Candidate != nil {
			cand := candidateOf(m.Candidate)
			r.candidate = &cand
		}
		return ok(s.relay(c, r))
	}},
}

// publishRequestOf reads a "publish" message.
func publishRequestOf(m *signaling.Message) (publishRequest, error) {
	if m.Stream == nil {
		return publishRequest{}, fmt.Errorf("%w: publish needs a stream", ErrBadRequest)
	}
	d := m.Stream
	r := publishRequest{
		stream:   streamSpec{name: d.Name, videoType: VideoType(d.VideoType), hasAudio: d.HasAudio, hasVideo: d.HasVideo, hasCaptions: d.HasCaptions},
		sdp:      m.SDP,
		tracks:   make(map[string]webrtc.RTPCodecType, len(m.Tracks)),
		streamID: m.StreamID,
	}
	if v := d.VideoDimensions; v != nil {
		r.stream.dimensions = Dimensions{Width: v.Width, Height: v.Height}
	}
	for _, t := range m.Tracks {
		kind := webrtc.NewRTPCodecType(t.Kind)
		if kind == 0 || t.Mid == "" {
			return publishRequest{}, fmt.Errorf("%w: track %+v", ErrBadRequest, t)
		}
		r.tracks[t.Mid] = kind
	}
	return r, nil
}

// subscribeRequestOf reads a "subscribe" or "subscription" message.
func subscribeRequestOf(m *signaling.Message) subscribeRequest {
	r := subscribeRequest{streamID: m.StreamID, audio: m.Audio, video: m.Video, captions: m.Captions, fps: m.PreferredFrameRate}
	if p := m.PreferredResolution; p != nil {
		r.size = &Dimensions{Width: p.Width, Height: p.Height}
	}
	return r
}

// candidateOf reads a trickled ICE candidate.
func candidateOf(c *signaling.ICECandidate) webrtc.ICECandidateInit {
	return webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex}
}

// reply answers request re with m (nil: a plain "ok") or the client form of
// err. A message that was not a request (re 0) gets a reply only when it
// failed.
func (s *Session) reply(c *Connection, re uint64, m *signaling.Message, err error) {
	if re == 0 && err == nil {
		return
	}
	if m == nil || err != nil {
		m = &signaling.Message{Type: signaling.TypeOK}
	}
	m.Re = re
	if err != nil {
		m.Type = signaling.TypeError
		m.Error = ClientError(err)
		s.srv.metrics.reject(m.Error)
		s.log.Debug("request failed", "connection", c.id, "re", re, "err", err)
	}
	s.mu.Lock()
	defer s.unlock()
	s.sendLocked(c, m)
}
