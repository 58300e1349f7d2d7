package crossbar_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/sfu"
)

func TestSessionIDHasOpenTokShape(t *testing.T) {
	srv := newServer(t)
	s, err := srv.CreateSession(context.Background(), crossbar.SessionOptions{Location: "10.1.2.3", Metadata: map[string]string{"room": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.ID(), "1_") {
		t.Fatalf("id %q", s.ID())
	}
	raw, err := base64.RawURLEncoding.DecodeString(s.ID()[2:])
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(string(raw), "~")
	if len(f) != 5 || f[0] != "1" || f[1] != testKey || f[2] != "10.1.2.3" {
		t.Fatalf("decoded %q", raw)
	}
	if r, _ := base64.RawURLEncoding.DecodeString(f[4]); len(r) < 16 {
		t.Fatalf("random part %q has %d bytes, want >= 16", f[4], len(r))
	}
	if s.MediaMode() != crossbar.Routed || s.Metadata()["room"] != "a" {
		t.Fatalf("mode %s metadata %v", s.MediaMode(), s.Metadata())
	}
}

func TestSessionsLookupListClose(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t)
	a, _ := srv.CreateSession(ctx, crossbar.SessionOptions{})
	b, _ := srv.CreateSession(ctx, crossbar.SessionOptions{MediaMode: crossbar.Relayed})
	if got, err := srv.Session(ctx, b.ID()); err != nil || got != b || got.MediaMode() != crossbar.Relayed {
		t.Fatalf("lookup: %v %v", got, err)
	}
	list, err := srv.Sessions(ctx)
	if err != nil || len(list) != 2 || list[0] != a || list[1] != b {
		t.Fatalf("list: %v %v", list, err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Session(ctx, a.ID()); !errors.Is(err, crossbar.ErrSessionNotFound) {
		t.Fatalf("closed session lookup: %v", err)
	}
	if _, err := srv.Session(ctx, "1_bogus"); !errors.Is(err, crossbar.ErrInvalidSessionID) {
		t.Fatalf("bogus lookup: %v", err)
	}
	if e, err := srv.CreateSession(ctx, crossbar.SessionOptions{E2EE: true, VideoCodec: crossbar.VP9}); err != nil || !e.E2EE() || a.E2EE() {
		t.Fatalf("e2ee session: %v, E2EE %v (a plain one's %v)", err, e != nil && e.E2EE(), a.E2EE())
	}
	for _, opts := range []crossbar.SessionOptions{
		{MediaMode: "mesh"}, {Location: "not-an-ip"},
		{E2EE: true, MediaMode: crossbar.Relayed}, {E2EE: true, VideoCodec: crossbar.H264}, {E2EE: true, ArchiveMode: crossbar.ArchiveModeAlways},
	} {
		if _, err := srv.CreateSession(ctx, opts); !errors.Is(err, crossbar.ErrInvalidOption) {
			t.Fatalf("options %+v: %v", opts, err)
		}
	}
}

// A session made by another server process on a shared store comes to life
// here when first used, and OnSession sees it.
func TestSharedStore(t *testing.T) {
	ctx := context.Background()
	store := crossbar.NewMemoryStore()
	one, _ := crossbar.New(crossbar.Config{APIKey: testKey, APISecret: testSecret, Store: store, Media: sfu.Config{LoopbackOnly: true}})
	two, _ := crossbar.New(crossbar.Config{APIKey: testKey, APISecret: testSecret, Store: store, Media: sfu.Config{LoopbackOnly: true}})
	defer one.Close()
	defer two.Close()
	var seen []string
	two.OnSession(func(s *crossbar.Session) { seen = append(seen, s.ID()) })
	s, _ := one.CreateSession(ctx, crossbar.SessionOptions{})
	tok, _ := one.GenerateToken(s.ID(), crossbar.TokenOptions{})
	if _, err := two.VerifyToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := two.Session(ctx, s.ID()); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0] != s.ID() {
		t.Fatalf("OnSession saw %v", seen)
	}
	one.RevokeToken(ctx, crossbar.TokenID(tok))
	if _, err := two.VerifyToken(ctx, tok); !errors.Is(err, crossbar.ErrTokenRevoked) {
		t.Fatalf("revocation not shared: %v", err)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	for _, cfg := range []crossbar.Config{{APISecret: testSecret}, {APIKey: "a~b", APISecret: testSecret}, {APIKey: testKey, APISecret: "short"}} {
		if _, err := crossbar.New(cfg); !errors.Is(err, crossbar.ErrInvalidOption) {
			t.Errorf("config %+v: %v", cfg, err)
		}
	}
}
