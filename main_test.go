package crossbar_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/internal/browsertest"
	"github.com/crossbar-rtc/crossbar/signaling"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(browsertest.Main(m))
}

const (
	testKey    = "12345678"
	testSecret = "0123456789abcdef0123456789abcdef"
)

// harness is a Crossbar server mounted on a real HTTP server on loopback.
type harness struct {
	t   testing.TB
	srv *crossbar.Server
	ws  string // the signaling WebSocket URL
}

func newHarness(t testing.TB, cfg crossbar.Config) *harness {
	t.Helper()
	cfg.APIKey, cfg.APISecret = testKey, testSecret
	cfg.Media.LoopbackOnly = true
	srv, err := crossbar.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/crossbar/", srv.Handler())
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		hs.CloseClientConnections()
		hs.Close()
	})
	return &harness{t: t, srv: srv, ws: "ws" + strings.TrimPrefix(hs.URL, "http") + "/crossbar/ws"}
}

func (h *harness) session() *crossbar.Session {
	h.t.Helper()
	s, err := h.srv.CreateSession(context.Background(), crossbar.SessionOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func (h *harness) token(s *crossbar.Session, role crossbar.Role, data string) string {
	h.t.Helper()
	tok, err := h.srv.GenerateToken(s.ID(), crossbar.TokenOptions{Role: role, Data: data})
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// connect opens a Go client and disconnects it when the test ends.
func (h *harness) connect(s *crossbar.Session, role crossbar.Role, data string) *client.Session {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, h.ws, h.token(s, role, data), nil)
	if err != nil {
		h.t.Fatalf("connect %s: %v", data, err)
	}
	h.t.Cleanup(func() { c.Disconnect() })
	return c
}

// next returns the client's next event of one of the given types, skipping
// others, or fails the test after a timeout.
func next(t *testing.T, c *client.Session, types ...signaling.Type) client.Event {
	t.Helper()
	return nextWithin(t, c, 5*time.Second, types...)
}

// nextWithin is next with a timeout of d.
func nextWithin(t *testing.T, c *client.Session, d time.Duration, types ...signaling.Type) client.Event {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("events closed while waiting for %v", types)
			}
			for _, typ := range types {
				if ev.Type == typ {
					return ev
				}
			}
		case <-timeout:
			t.Fatalf("no %v event", types)
		}
	}
}

// none checks that the client gets no event of the given types for a while.
func none(t *testing.T, c *client.Session, wait time.Duration, types ...signaling.Type) {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				return
			}
			for _, typ := range types {
				if ev.Type == typ {
					t.Fatalf("unexpected %s event: %+v", ev.Type, ev)
				}
			}
		case <-timeout:
			return
		}
	}
}

// errorCode returns the client-visible code of a client error, or 0.
func errorCode(err error) int {
	var se *signaling.Error
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// poll reports whether cond holds within timeout, checking it every 10 ms.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// waitFor fails the test unless cond holds within timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !poll(timeout, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}
