// Package app is the plumbing the example programs share: a Crossbar
// server, rooms by name, the token endpoint, the shared stylesheet and
// script, and the command-line entry point.
package app

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/crossbar-rtc/crossbar"
)

//go:embed static
var static embed.FS

// App is one example's Crossbar server and its rooms.
type App struct {
	Server *crossbar.Server
	// Rooms keeps which session each room is: a map of this process's
	// unless replaced before the App serves, as a cluster's nodes do to
	// share one (see examples/cluster).
	Rooms  Rooms
	apiKey string

	mu sync.Mutex // held through Room, so that a process makes a room once
}

// Rooms maps room names to session ids. Its methods are safe for
// concurrent use.
type Rooms interface {
	// Get returns the id of the named room's session, or "" if it has none.
	Get(ctx context.Context, room string) (string, error)
	// Claim makes id the named room's session unless the room has one
	// already, and returns the id of the room's session: id, or the one
	// it had.
	Claim(ctx context.Context, room, id string) (string, error)
}

// roomMap is the Rooms of one process.
type roomMap struct {
	mu  sync.Mutex
	ids map[string]string
}

func (m *roomMap) Get(_ context.Context, room string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ids[room], nil
}

func (m *roomMap) Claim(_ context.Context, room, id string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if had, ok := m.ids[room]; ok {
		return had, nil
	}
	m.ids[room] = id
	return id, nil
}

// New returns an App whose server uses cfg. An empty API key or secret is
// made up: tokens only need to verify in this process.
func New(cfg crossbar.Config) (*App, error) {
	if cfg.APIKey == "" {
		cfg.APIKey = "example"
	}
	if cfg.APISecret == "" {
		b := make([]byte, 32)
		rand.Read(b)
		cfg.APISecret = hex.EncodeToString(b)
	}
	srv, err := crossbar.New(cfg)
	if err != nil {
		return nil, err
	}
	return Wrap(srv, cfg.APIKey), nil
}

// Wrap returns an App on a server made elsewhere (a test's, say), whose
// project is apiKey.
func Wrap(srv *crossbar.Server, apiKey string) *App {
	return &App{Server: srv, Rooms: &roomMap{ids: map[string]string{}}, apiKey: apiKey}
}

// Room returns the session of the named room, creating it on first use.
func (a *App) Room(ctx context.Context, name string) (*crossbar.Session, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	id, err := a.Rooms.Get(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("look up room %q: %w", name, err)
	}
	if id == "" {
		s, err := a.Server.CreateSession(ctx, crossbar.SessionOptions{Metadata: map[string]string{"room": name}})
		if err != nil {
			return nil, err
		}
		if id, err = a.Rooms.Claim(ctx, name, s.ID()); err != nil {
			return nil, errors.Join(fmt.Errorf("claim room %q: %w", name, err), s.Close())
		}
		if id == s.ID() {
			return s, nil
		}
		// Another process made the room first: its session is the room's.
		if err := s.Close(); err != nil {
			return nil, fmt.Errorf("close the session that lost room %q: %w", name, err)
		}
	}
	return a.Server.Session(ctx, id)
}

// Credentials are what a page needs to join a room: the arguments of
// OT.initSession and session.connect.
type Credentials struct {
	APIKey    string `json:"apiKey"`
	SessionID string `json:"sessionId"`
	Token     string `json:"token"`
}

// TokenHandler serves GET /token?room=R&role=ROLE&name=N with the
// Credentials for room R. The role must be one of roles; without one, the
// first. The name becomes the connection data everyone sees.
//
// A real app decides the role from who the user is; the examples let the
// page ask, to stay small.
func (a *App) TokenHandler(roles ...crossbar.Role) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		role := crossbar.Role(q.Get("role"))
		if role == "" {
			role = roles[0]
		}
		if !slices.Contains(roles, role) {
			http.Error(w, fmt.Sprintf("role %q is not offered here", role), http.StatusForbidden)
			return
		}
		room := q.Get("room")
		if room == "" || len(room) > 100 {
			http.Error(w, "room must be 1 to 100 bytes", http.StatusBadRequest)
			return
		}
		name := q.Get("name")
		if len(name) > 100 {
			http.Error(w, "name must be at most 100 bytes", http.StatusBadRequest)
			return
		}
		s, err := a.Room(r.Context(), room)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		tok, err := a.Server.GenerateToken(s.ID(), crossbar.TokenOptions{Role: role, Data: name})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(Credentials{APIKey: a.apiKey, SessionID: s.ID(), Token: tok})
	})
}

// Mux returns a mux with what every example serves: Crossbar at
// /crossbar/, the shared assets at /static/, tokens for the given roles at
// /token, and the liveness and readiness probes at /livez and /readyz. The
// example adds its pages.
func (a *App) Mux(roles ...crossbar.Role) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/crossbar/", a.Server.Handler())
	mux.Handle("GET /livez", a.Server.LivenessHandler())
	mux.Handle("GET /readyz", a.Server.ReadinessHandler())
	mux.Handle("GET /static/", http.FileServerFS(static))
	mux.Handle("GET /token", a.TokenHandler(roles...))
	return mux
}

// Page returns a handler that serves an HTML page.
func Page(html []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(html)
	})
}

// Main runs an example: it parses the -addr flag and the Deployment's,
// builds the handler with build, and serves it until interrupted.
func Main(title string, build func(*App) http.Handler) {
	addr := flag.String("addr", "127.0.0.1:8080", "address to serve on")
	var d Deployment
	d.Flags(flag.CommandLine)
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg := crossbar.Config{Logger: logger}
	tlsConfig, err := d.Apply(&cfg)
	if err != nil {
		log.Fatal(err)
	}
	a, err := New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	metrics := d.ServeMetrics(ctx, logger)
	err = ListenAndServe(ctx, *addr, tlsConfig, build(a), func(url string) {
		logger.Info(title + ": open " + url + "/?room=demo")
	})
	stop() // the metrics too, if serving failed
	err = errors.Join(err, <-metrics)
	if err := errors.Join(err, a.Server.Close()); err != nil {
		logger.Error(title, "err", err)
		os.Exit(1)
	}
}

// ListenAndServe serves h on addr until ctx ends, then shuts the server
// down: over HTTPS with tlsConfig, over HTTP if it is nil. Once it listens
// it calls listening with its base URL, http://host:port or https://...
// (the port chosen when addr's is 0).
func ListenAndServe(ctx context.Context, addr string, tlsConfig *tls.Config, h http.Handler, listening func(url string)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	scheme := "http"
	if tlsConfig != nil {
		ln, scheme = tls.NewListener(ln, tlsConfig), "https"
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	stopped := make(chan error, 1)
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stopped <- hs.Shutdown(shutdown)
	}()
	listening(scheme + "://" + ln.Addr().String())
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return <-stopped
}
