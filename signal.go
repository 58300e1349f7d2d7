package crossbar

import (
	"fmt"
	"strings"
	"time"
)

// Signal limits, as OpenTok sets them.
const (
	MaxSignalType = 128      // characters of [A-Za-z0-9-_~]
	MaxSignalData = 8 * 1024 // bytes
)

// signalOverhead is what a signal costs a budget beyond its type and data:
// its envelope, so that empty signals are not free.
const signalOverhead = 64

// SignalLimits bound what clients' signals may cost a session, so that one
// client cannot flood the others: a signal costs its type and data in
// bytes, plus 64. Each limit is a rate per second; bursts may take twice
// as much. Zero fields take the defaults; negative ones mean no limit. The
// host's own signals (Session.Signal) are not limited.
type SignalLimits struct {
	// PerToken bounds the signals of all the connections made with one
	// token. Zero means 32 KiB/s.
	PerToken int
	// PerAddress bounds the signals of all the connections from one
	// remote address, for transports that report one (the WebSocket
	// handler reports the request's RemoteAddr: behind a reverse proxy,
	// set it from the forwarded address first). Zero means 256 KiB/s.
	PerAddress int
	// Broadcast bounds a session's fan-out of signals to everyone: one
	// costs its bytes times its recipients. Zero means 1 MiB/s.
	Broadcast int
}

func (l *SignalLimits) setDefaults() {
	for _, d := range []struct {
		v   *int
		def int
	}{{&l.PerToken, 32 << 10}, {&l.PerAddress, 256 << 10}, {&l.Broadcast, 1 << 20}} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
}

// newBudget returns a token bucket of rate bytes per second, or nil for no
// limit (rate < 0).
func newBudget(rate int) *rateLimiter {
	if rate < 0 {
		return nil
	}
	return newRateLimiter(float64(rate), 2*float64(rate))
}

// senderBudget is a budget shared by the connections of one token or one
// address, while any of them is in the session.
type senderBudget struct {
	*rateLimiter
	key  string
	refs int
}

// signalBehind is how many queued messages make a client too far behind to
// be sent signals: they are dropped for it, while the session's events
// still get through up to outboxSize.
const signalBehind = outboxSize / 2

// SignalOptions are the options of Session.Signal.
type SignalOptions struct {
	To   string // connection id; empty sends to everyone
	Type string // at most 128 characters of [A-Za-z0-9-_~]
	Data string // at most 8 kB
}

// Signal sends a signal from the host to one connection or to all. A client
// too far behind in reading does not get it (ErrSignalDropped). In a
// cluster it returns once the other nodes' share is on the bus
// (ErrClusterUnavailable if it could not be put there).
func (s *Session) Signal(opts SignalOptions) error {
	return s.signal(nil, opts)
}

// signal sends a signal from a client, or from the host if from is nil.
// A client's request is answered when signal returns: once the signal is
// on the bus, in a cluster, so that a node that dies after answering
// cannot take with it a signal its client took for sent.
func (s *Session) signal(from *Connection, opts SignalOptions) error {
	shared := make(chan error, 1)
	err := s.sendSignal(from, opts, shared)
	if err == nil && s.clustered() {
		if err = <-shared; err != nil {
			err = fmt.Errorf("%w: the signal reached this node's clients only: %v", ErrClusterUnavailable, err)
		}
	}
	return err
}

// sendSignal delivers a signal here and, in a cluster, has it passed to
// the other nodes, whose outcome goes to shared.
func (s *Session) sendSignal(from *Connection, opts SignalOptions, shared chan<- error) error {
	if err := validateSignal(opts.Type, opts.Data); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.unlock()
	if s.closed {
		return ErrSessionClosed
	}
	var to *Connection
	recipients := len(s.conns)
	if opts.To != "" {
		c, ok := s.conns[opts.To]
		if !ok {
			return fmt.Errorf("%w: %q", ErrConnectionNotFound, opts.To)
		}
		to, recipients = c, 1
		if c.remote() {
			if err := s.srv.busUp(); err != nil {
				return err
			}
		}
	}
	if from != nil {
		if err := s.chargeLocked(from, float64(len(opts.Type)+len(opts.Data)+signalOverhead), to == nil, recipients); err != nil {
			return err
		}
	}
	ev := signalSent{sig: Signal{From: from, To: to, Type: opts.Type, Data: opts.Data}}
	if s.clustered() {
		s.sigN++
		ev.origin, ev.n, ev.shared = s.srv.origin, s.sigN, shared
	}
	dropped := s.emitLocked(ev)
	if dropped > 0 {
		return fmt.Errorf("%w: %d of %d recipients too far behind", ErrSignalDropped, dropped, recipients)
	}
	return nil
}

// chargeLocked takes a signal's cost from the budgets of its sender's token
// and address and, for a broadcast, the session's fan-out budget, or from
// none of them if one is short.
func (s *Session) chargeLocked(from *Connection, cost float64, broadcast bool, recipients int) error {
	type charge struct {
		r    *rateLimiter
		n    float64
		what string
	}
	charges := []charge{{from.tokenBudget.limiter(), cost, "its token's"}, {from.addrBudget.limiter(), cost, "its address's"}}
	if broadcast {
		charges = append(charges, charge{s.broadcast, cost * float64(recipients), "the session's broadcast"})
	}
	now := time.Now()
	for _, c := range charges {
		if c.r != nil && !c.r.has(now, c.n) {
			return fmt.Errorf("%w: a signal of %.0f bytes is over %s signal budget", ErrRateLimited, cost, c.what)
		}
	}
	for _, c := range charges {
		if c.r != nil {
			c.r.take(c.n)
		}
	}
	return nil
}

// joinBudgetsLocked gives a client connection the budgets of its token and
// address, shared with the session's other connections of either.
func (s *Session) joinBudgetsLocked(c *Connection) {
	limits := s.srv.cfg.Signals
	c.tokenBudget = s.senderBudgetLocked("token "+c.token.ID, limits.PerToken)
	if c.addr != "" {
		c.addrBudget = s.senderBudgetLocked("address "+c.addr, limits.PerAddress)
	}
}

func (s *Session) senderBudgetLocked(key string, rate int) *senderBudget {
	if rate < 0 {
		return nil
	}
	b, ok := s.senders[key]
	if !ok {
		b = &senderBudget{rateLimiter: newBudget(rate), key: key}
		s.senders[key] = b
	}
	b.refs++
	return b
}

// leaveBudgetsLocked releases what joinBudgetsLocked took.
func (s *Session) leaveBudgetsLocked(c *Connection) {
	for _, b := range []*senderBudget{c.tokenBudget, c.addrBudget} {
		if b != nil {
			if b.refs--; b.refs == 0 {
				delete(s.senders, b.key)
			}
		}
	}
	c.tokenBudget, c.addrBudget = nil, nil
}

// limiter returns b's bucket; nil (no limit) for a nil b.
func (b *senderBudget) limiter() *rateLimiter {
	if b == nil {
		return nil
	}
	return b.rateLimiter
}

func validateSignal(typ, data string) error {
	if len(typ) > MaxSignalType {
		return fmt.Errorf("%w: type is %d characters, at most %d", ErrSignalTooLarge, len(typ), MaxSignalType)
	}
	if len(data) > MaxSignalData {
		return fmt.Errorf("%w: data is %d bytes, at most %d", ErrSignalTooLarge, len(data), MaxSignalData)
	}
	for _, r := range typ {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("-_~", r)) {
			return fmt.Errorf("%w: type %q has a character outside [A-Za-z0-9-_~]", ErrInvalidSignal, typ)
		}
	}
	return nil
}
