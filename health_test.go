package crossbar_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
)

// probe returns the status and body a probe handler answers.
func probe(h http.Handler) (int, string) {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	return w.Code, w.Body.String()
}

func TestHealthProbes(t *testing.T) {
	h := newHarness(t, crossbar.Config{})
	live, ready := h.srv.LivenessHandler(), h.srv.ReadinessHandler()
	for name, p := range map[string]http.Handler{"liveness": live, "readiness": ready} {
		if code, body := probe(p); code != http.StatusOK || body != "ok\n" {
			t.Errorf("%s of a running server: %d %q", name, code, body)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]http.Handler{"liveness": live, "readiness": ready} {
		if code, body := probe(p); code != http.StatusServiceUnavailable || !strings.Contains(body, "closed") {
			t.Errorf("%s of a closed server: %d %q", name, code, body)
		}
	}
}

func TestReadinessFollowsTheCluster(t *testing.T) {
	rs, nodes := newCluster(t, 1, crossbar.Config{})
	ready := nodes[0].srv.ReadinessHandler()
	if code, body := probe(ready); code != http.StatusOK {
		t.Fatalf("readiness with Redis up: %d %q", code, body)
	}
	rs.Stop()
	waitFor(t, 10*time.Second, "readiness to fail without Redis", func() bool {
		code, body := probe(ready)
		return code == http.StatusServiceUnavailable && strings.Contains(body, "cluster unavailable")
	})
	if code, body := probe(nodes[0].srv.LivenessHandler()); code != http.StatusOK {
		t.Errorf("liveness without Redis: %d %q, want 200: the node serves its own clients", code, body)
	}
	rs.Start()
	waitFor(t, 10*time.Second, "readiness once Redis is back", func() bool {
		code, _ := probe(ready)
		return code == http.StatusOK
	})
}
