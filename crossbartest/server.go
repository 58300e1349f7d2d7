package crossbartest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// The project a Server makes tokens for, unless its Config names one.
const (
	APIKey    = "crossbartest"
	APISecret = "crossbartest-secret-0123456789ab"
)

// Server is a real crossbar.Server whose clients are virtual participants
// in the test's process, over in-memory signaling links: its sessions,
// tokens, roles, limits and callbacks are the production code. Use the
// embedded Server as the host app would (CreateSession, GenerateToken,
// the callbacks), and Join to bring participants in.
type Server struct {
	*crossbar.Server
	// Clock is the server's fake time (crossbar.Config.Clock), which
	// starts at the real time of NewServer; nil when the Config passed to
	// NewServer had a clock of its own.
	Clock *Clock

	ctx     context.Context // ends at cleanup: the server stops serving
	stop    context.CancelFunc
	serving sync.WaitGroup

	mu           sync.Mutex
	closed       bool
	ends         []*signaling.PipeEnd // the participants' ends of every pipe
	participants []*Participant       // to disconnect at cleanup
}

// NewServer returns a Server made with cfg, closed when the test ends. It
// fills in what a test need not choose: APIKey and APISecret when empty,
// a fake Clock when cfg has none, and it always allows signal-only streams
// (cfg.SignalOnlyStreams) and keeps media on loopback
// (cfg.Media.LoopbackOnly).
func NewServer(t testing.TB, cfg crossbar.Config) *Server {
	t.Helper()
	if cfg.APIKey == "" {
		cfg.APIKey = APIKey
	}
	if cfg.APISecret == "" {
		cfg.APISecret = APISecret
	}
	var clock *Clock
	if cfg.Clock == nil {
		clock = NewClock(time.Now())
		cfg.Clock = clock
	}
	cfg.SignalOnlyStreams = true
	cfg.Media.LoopbackOnly = true
	srv, err := crossbar.New(cfg)
	if err != nil {
		t.Fatalf("crossbartest: new server: %v", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ts := &Server{Server: srv, Clock: clock, ctx: ctx, stop: stop}
	t.Cleanup(ts.close)
	return ts
}

// close disconnects every participant, closes the server and drops every
// link, and waits until none is served.
func (ts *Server) close() {
	ts.mu.Lock()
	ps := ts.participants
	ts.participants = nil
	ts.mu.Unlock()
	for _, p := range ps {
		p.leave()
	}
	_ = ts.Server.Close() // its only error is a cluster's
	ts.stop()
	ts.mu.Lock()
	ts.closed = true
	ends := ts.ends
	ts.ends = nil
	ts.mu.Unlock()
	for _, end := range ends {
		_ = end.CloseNow()
	}
	ts.serving.Wait()
}

// serve opens a pipe and serves its server's end until it ends. It returns
// the participant's end, and a channel closed once the server stopped
// serving it.
func (ts *Server) serve() (*signaling.PipeEnd, chan struct{}, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.closed {
		return nil, nil, errors.New("crossbartest: the server is closed")
	}
	end, server := signaling.Pipe()
	ts.ends = append(ts.ends, end)
	served := make(chan struct{})
	ts.serving.Add(1)
	go func() {
		defer ts.serving.Done()
		defer close(served)
		_ = ts.Server.ServeTransport(ts.ctx, server) // how the link ended is the participant's to see
	}()
	return end, served, nil
}

// NewSession creates a session with opts, or fails the test.
func (ts *Server) NewSession(t testing.TB, opts crossbar.SessionOptions) *crossbar.Session {
	t.Helper()
	s, err := ts.CreateSession(context.Background(), opts)
	if err != nil {
		t.Fatalf("crossbartest: create session: %v", err)
	}
	return s
}

// Token generates a token for the session with opts, or fails the test.
func (ts *Server) Token(t testing.TB, sessionID string, opts crossbar.TokenOptions) string {
	t.Helper()
	tok, err := ts.GenerateToken(sessionID, opts)
	if err != nil {
		t.Fatalf("crossbartest: generate token: %v", err)
	}
	return tok
}

// joinTimeout bounds Join.
const joinTimeout = 10 * time.Second

// Join connects a participant to the session with the token, as a client
// app would, or fails the test. The participant leaves when the test ends.
func (ts *Server) Join(t testing.TB, sessionID, token string, opts ...Option) *Participant {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
	defer cancel()
	p, err := ts.Connect(ctx, sessionID, token, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.leave)
	return p
}

// Connect is Join for tests that expect it to fail (an expired token, a
// full session): it returns the error the client got. The participant
// leaves when it disconnects, or when the Server is closed.
func (ts *Server) Connect(ctx context.Context, sessionID, token string, opts ...Option) (*Participant, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if tok, err := ts.VerifyToken(ctx, token); err == nil && tok.SessionID != sessionID {
		return nil, fmt.Errorf("crossbartest: join %s: the token is for session %s", sessionID, tok.SessionID)
	}
	p, err := connect(ctx, ts, token, o)
	if err != nil {
		return nil, err
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.closed {
		p.leave()
		return nil, errors.New("crossbartest: the server is closed")
	}
	ts.participants = append(ts.participants, p)
	return p, nil
}
