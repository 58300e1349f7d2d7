package crossbar

import (
	"context"
	"errors"
	"fmt"
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
// their Transport; Handler calls it for WebSocket clients.
func (srv *Server) ServeTransport(ctx context.Context, t signaling.Transport) error {
	c, l, err := srv.handshake(ctx, t)
	if err != nil {
		return err
	}
	s := c.session
	limit := newRateLimiter(clientRate, clientBurst)
	for {
		b, err := t.ReadMessage(ctx)
		if err != nil {
			s.linkEnded(c, l, errors.Is(err, signaling.ErrClosed))
			return err
		}
		if !limit.allow(time.Now()) {
			s.reply(c, 0, ErrRateLimited)
			continue
		}
		m, err := signaling.Decode(b)
		if err != nil {
			s.reply(c, 0, fmt.Errorf("%w: %v", ErrBadRequest, err))
			continue
		}
		if m.Type == signaling.TypeDisconnect {
			s.reply(c, m.ID, nil)
			s.disconnect(c.id, ReasonClientDisconnected)
			return nil
		}
		s.reply(c, m.ID, s.handle(ctx, c, m))
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
		t.Close()
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
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
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
	return s.join(tok, l, m.ID)
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

// handle carries out one client request.
func (s *Session) handle(ctx context.Context, c *Connection, m *signaling.Message) error {
	action, ok := actions[m.Type]
	if !ok {
		return fmt.Errorf("%w: unknown message type %q", ErrBadRequest, m.Type)
	}
	if err := s.authorize(ctx, c, action); err != nil {
		return err
	}
	switch m.Type {
	case signaling.TypeSignal:
		if m.Signal == nil {
			return fmt.Errorf("%w: signal without a signal field", ErrBadRequest)
		}
		return s.signal(c, SignalOptions{To: m.Signal.To, Type: m.Signal.Type, Data: m.Signal.Data})
	case signaling.TypeForceDisconnect:
		return s.disconnect(m.ConnectionID, ReasonForceDisconnected)
	case signaling.TypeForceUnpublish:
		return s.ForceUnpublish(m.StreamID)
	}
	return fmt.Errorf("%w: unhandled message type %q", ErrBadRequest, m.Type)
}

// actions gives the action each request needs permission for.
var actions = map[signaling.Type]Action{
	signaling.TypeSignal:          ActionSignal,
	signaling.TypeForceDisconnect: ActionForceDisconnect,
	signaling.TypeForceUnpublish:  ActionForceUnpublish,
}

// reply answers request re with "ok" or the client form of err. A message
// that was not a request (re 0) gets a reply only when it failed.
func (s *Session) reply(c *Connection, re uint64, err error) {
	if re == 0 && err == nil {
		return
	}
	m := &signaling.Message{Type: signaling.TypeOK, Re: re}
	if err != nil {
		m.Type = signaling.TypeError
		m.Error = ClientError(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sendLocked(c, m)
}

// rateLimiter is a token bucket.
type rateLimiter struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

func newRateLimiter(rate, burst float64) *rateLimiter {
	return &rateLimiter{rate: rate, burst: burst, tokens: burst}
}

func (r *rateLimiter) allow(now time.Time) bool {
	if !r.last.IsZero() {
		r.tokens = min(r.burst, r.tokens+now.Sub(r.last).Seconds()*r.rate)
	}
	r.last = now
	if r.tokens < 1 {
		return false
	}
	r.tokens--
	return true
}
