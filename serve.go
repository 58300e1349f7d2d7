package crossbar

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/crossbar-rtc/crossbar/signaling"
)

// connectTimeout bounds the wait for a new transport's "connect" message.
const connectTimeout = 10 * time.Second

// Message rate allowed from one client: a sustained rate and a burst.
const (
	clientRate  = 50 // messages per second
	clientBurst = 100
)

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
	if ka, ok := t.(signaling.KeepAliver); ok {
		stop := srv.keepAlive(ctx, ka)
		defer stop()
		idle = 0 // the transport's keep-alive fails the read
	}
	c, l, err := srv.handshake(ctx, t)
	if err != nil {
		return err
	}
	defer func() {
		// The writer flushes what a departing client is owed, and closes
		// t in an orderly way when it can; whatever happened, t is closed
		// once it stopped.
		<-l.exited
		signaling.CloseNow(t)
	}()
	s := c.session
	limit := newRateLimiter(clientRate, clientBurst)
	for {
		b, err := readWithin(ctx, t, idle)
		if err != nil {
			s.linkEnded(c, l, errors.Is(err, signaling.ErrClosed))
			return err
		}
		if !limit.allow(time.Now(), 1) {
			s.reply(c, 0, nil, ErrRateLimited)
			continue
		}
		m, err := signaling.Decode(b)
		if err != nil {
			s.reply(c, 0, nil, fmt.Errorf("%w: %w", ErrBadRequest, err))
			continue
		}
		switch m.Type {
		case signaling.TypeDisconnect:
			s.reply(c, m.ID, nil, nil)
			_ = s.disconnect(c.id, ReasonClientDisconnected) // already gone: fine
			return nil
		case signaling.TypePing: // needs no permission: answered at once
			s.reply(c, m.ID, nil, nil)
			continue
		}
		r, err := s.handle(ctx, c, m)
		s.reply(c, m.ID, r, err)
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
// resume instead of staying open forever.
func (srv *Server) keepAlive(ctx context.Context, t signaling.KeepAliver) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := t.KeepAlive(ctx, srv.cfg.PingInterval, srv.cfg.PingTimeout); ctx.Err() == nil {
			srv.log.Info("client stopped answering pings", "err", err)
		}
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
	if err == nil {
		c, err = srv.connect(ctx, m, l)
	}
	if err != nil {
		var re uint64
		if m != nil {
			re = m.ID
		}
		if b, encErr := signaling.Encode(&signaling.Message{Type: signaling.TypeError, Re: re, Error: ClientError(err)}); encErr == nil {
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
	if m.Resume != nil {
		return s.resume(tok, m.Resume, l, m.ID)
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
	if !time.Now().Before(c.token.ExpireTime) {
		return fmt.Errorf("%w: expired at %s", ErrTokenExpired, c.token.ExpireTime.UTC().Format(time.RFC3339))
	}
	if err := s.srv.checkRevoked(ctx, c.token.ID); err != nil {
		return err
	}
	if !c.token.Role.Can(a) {
		return &PermissionError{Role: c.token.Role, Action: a}
	}
	return nil
}

// handle carries out one client request and returns its reply, nil for a
// plain "ok".
func (s *Session) handle(ctx context.Context, c *Connection, m *signaling.Message) (*signaling.Message, error) {
	action, ok := actions[m.Type]
	if !ok {
		return nil, fmt.Errorf("%w: unknown message type %q", ErrBadRequest, m.Type)
	}
	if err := s.authorize(ctx, c, action); err != nil {
		return nil, err
	}
	switch m.Type {
	case signaling.TypeSignal:
		if m.Signal == nil {
			return nil, fmt.Errorf("%w: signal without a signal field", ErrBadRequest)
		}
		return nil, s.signal(c, SignalOptions{To: m.Signal.To, Type: m.Signal.Type, Data: m.Signal.Data})
	case signaling.TypeForceDisconnect:
		return nil, s.disconnect(m.ConnectionID, ReasonForceDisconnected)
	case signaling.TypeForceUnpublish:
		return nil, s.ForceUnpublish(m.StreamID)
	case signaling.TypeForceMuteStream:
		return nil, s.ForceMuteStream(m.StreamID)
	case signaling.TypeForceMuteAll:
		return nil, s.ForceMuteAll(m.Excluded...)
	case signaling.TypeDisableForceMute:
		return nil, s.DisableForceMute()
	case signaling.TypePublish:
		return s.publish(c, m)
	case signaling.TypeOffer:
		return s.republish(c, m)
	case signaling.TypeUnpublish:
		return nil, s.unpublish(c, m)
	case signaling.TypeStreamUpdate:
		return nil, s.updateStream(c, m)
	case signaling.TypeSubscribe:
		return nil, s.subscribe(c, m)
	case signaling.TypeSubscription:
		return nil, s.updateSubscription(c, m)
	case signaling.TypeUnsubscribe:
		return nil, s.unsubscribe(c, m)
	case signaling.TypeAnswer:
		return nil, s.answer(c, m)
	case signaling.TypeCandidate:
		return nil, s.candidate(c, m)
	case signaling.TypeRelay:
		return nil, s.relay(c, m)
	}
	return nil, fmt.Errorf("%w: unhandled message type %q", ErrBadRequest, m.Type)
}

// actions gives the action each request needs permission for. Negotiation
// messages need the right to publish or subscribe, whichever peer
// connection they are for; ActionConnect stands for "either".
var actions = map[signaling.Type]Action{
	signaling.TypeSignal:           ActionSignal,
	signaling.TypeForceDisconnect:  ActionForceDisconnect,
	signaling.TypeForceUnpublish:   ActionForceUnpublish,
	signaling.TypeForceMuteStream:  ActionForceMute,
	signaling.TypeForceMuteAll:     ActionForceMute,
	signaling.TypeDisableForceMute: ActionForceMute,
	signaling.TypePublish:          ActionPublish,
	signaling.TypeOffer:            ActionPublish,
	signaling.TypeUnpublish:        ActionPublish,
	signaling.TypeStreamUpdate:     ActionPublish,
	signaling.TypeSubscribe:        ActionSubscribe,
	signaling.TypeSubscription:     ActionSubscribe,
	signaling.TypeUnsubscribe:      ActionSubscribe,
	signaling.TypeAnswer:           ActionSubscribe,
	signaling.TypeCandidate:        ActionConnect,
	signaling.TypeRelay:            ActionConnect,
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
		s.log.Debug("request failed", "connection", c.id, "re", re, "err", err)
	}
	s.mu.Lock()
	defer s.unlock()
	s.sendLocked(c, m)
}
