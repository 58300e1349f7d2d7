package client_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/internal/browsertest"
	"github.com/crossbar-rtc/crossbar/sfu"
	"github.com/crossbar-rtc/crossbar/signaling"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(browsertest.Main(m))
}

// server is a Crossbar server with a routed session, on loopback.
type server struct {
	t       *testing.T
	srv     *crossbar.Server
	session *crossbar.Session
	url     string // the signaling WebSocket
	page    string // browserPage's URL
}

func newServer(t *testing.T) *server {
	t.Helper()
	return newServerMode(t, crossbar.Routed)
}

// newServerMode is newServer with a session of the given media mode.
func newServerMode(t *testing.T, mode crossbar.MediaMode) *server {
	t.Helper()
	srv, err := crossbar.New(crossbar.Config{
		APIKey:    "12345678",
		APISecret: "0123456789abcdef0123456789abcdef",
		Media:     sfu.Config{LoopbackOnly: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/crossbar/", srv.Handler())
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, browserPage) })
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		hs.CloseClientConnections()
		hs.Close()
	})
	s, err := srv.CreateSession(context.Background(), crossbar.SessionOptions{MediaMode: mode})
	if err != nil {
		t.Fatal(err)
	}
	return &server{t: t, srv: srv, session: s, page: hs.URL + "/", url: "ws" + strings.TrimPrefix(hs.URL, "http") + "/crossbar/ws"}
}

// token returns a token for the session.
func (s *server) token(role crossbar.Role, name string) string {
	s.t.Helper()
	tok, err := s.srv.GenerateToken(s.session.ID(), crossbar.TokenOptions{Role: role, Data: name})
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// connect opens a client with loopback-only media, disconnected when the
// test ends.
func (s *server) connect(role crossbar.Role, name string) *client.Session {
	s.t.Helper()
	tok := s.token(role, name)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, s.url, tok, &client.Options{Media: client.MediaOptions{LoopbackOnly: true}})
	if err != nil {
		s.t.Fatalf("connect %s: %v", name, err)
	}
	s.t.Cleanup(func() { c.Disconnect() })
	return c
}

// waitEvent returns the client's next event that match accepts, skipping
// others, or fails the test after a timeout.
func waitEvent(t *testing.T, c *client.Session, what string, match func(client.Event) bool) client.Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("events closed while waiting for %s", what)
			}
			if match(ev) {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s event", what)
		}
	}
}

// streamEvent matches events of one type about one stream.
func streamEvent(typ signaling.Type, id string) func(client.Event) bool {
	return func(ev client.Event) bool { return ev.Type == typ && ev.Stream != nil && ev.Stream.ID == id }
}

// waitFor polls cond until it holds, or fails the test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
