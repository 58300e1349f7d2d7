// Package app is the plumbing the example programs share: a Crossbar
// server, rooms by name, the token endpoint, the shared stylesheet and
// script, and the command-line entry point.
package app

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sync"
	"time"

	"github.com/crossbar-rtc/crossbar"
)

//go:embed static
var static embed.FS

// App is one example's Crossbar server and its rooms.
type App struct {
	Server *crossbar.Server
	apiKey string

	mu    sync.Mutex
	rooms map[string]*crossbar.Session
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
	return &App{Server: srv, apiKey: cfg.APIKey, rooms: map[string]*crossbar.Session{}}, nil
}

// Room returns the session of the named room, creating it on first use.
func (a *App) Room(ctx context.Context, name string) (*crossbar.Session, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s, ok := a.rooms[name]; ok {
		return s, nil
	}
	s, err := a.Server.CreateSession(ctx, crossbar.SessionOptions{Metadata: map[string]string{"room": name}})
	if err != nil {
		return nil, err
	}
	a.rooms[name] = s
	return s, nil
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
// /crossbar/, the shared assets at /static/, and tokens for the given roles
// at /token. The example adds its pages.
func (a *App) Mux(roles ...crossbar.Role) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/crossbar/", a.Server.Handler())
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

// Main runs an example: it parses the -addr flag, builds the handler with
// build, and serves it until interrupted.
func Main(title string, build func(*App) http.Handler) {
	addr := flag.String("addr", "127.0.0.1:8080", "address to serve on")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	a, err := New(crossbar.Config{Logger: logger})
	if err != nil {
		log.Fatal(err)
	}
	hs := &http.Server{Addr: *addr, Handler: build(a), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		if err := a.Server.Close(); err != nil {
			logger.Warn("closing crossbar", "err", err)
		}
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := hs.Shutdown(shutdown); err != nil {
			logger.Warn("shutting the HTTP server down", "err", err)
		}
	}()
	logger.Info(title+": open http://"+*addr+"/?room=demo", "addr", *addr)
	if err := hs.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
