package apptest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/crossbartest"
	"github.com/crossbar-rtc/crossbar/examples/internal/app"
)

// Logic is an example app on a crossbartest server, for tests of its
// logic without a browser or a socket: participants get their tokens from
// the app's own handler, as its pages do, and join as virtual clients.
type Logic struct {
	*crossbartest.Server
	App     *app.App
	Handler http.Handler
}

// NewLogic builds the handler that build makes on a crossbartest server,
// closed when the test ends.
func NewLogic(t *testing.T, build func(*app.App) http.Handler) *Logic {
	t.Helper()
	ts := crossbartest.NewServer(t, crossbar.Config{})
	a := app.Wrap(ts.Server, crossbartest.APIKey)
	return &Logic{Server: ts, App: a, Handler: build(a)}
}

// Credentials asks the app's /token endpoint, with the query (room=R,
// role=ROLE, name=N), and returns its HTTP status and, when it is 200,
// the credentials.
func (l *Logic) Credentials(t *testing.T, query string) (int, app.Credentials) {
	t.Helper()
	rec := httptest.NewRecorder()
	l.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/token?"+query, nil))
	var cred app.Credentials
	if rec.Code == http.StatusOK {
		if err := json.NewDecoder(rec.Body).Decode(&cred); err != nil {
			t.Fatalf("token %s: %v", query, err)
		}
	}
	return rec.Code, cred
}

// Join joins a participant with the credentials the app's /token endpoint
// gives for the query, and fails the test if it gives none.
func (l *Logic) Join(t *testing.T, query string, opts ...crossbartest.Option) *crossbartest.Participant {
	t.Helper()
	code, cred := l.Credentials(t, query)
	if code != http.StatusOK {
		t.Fatalf("token %s: HTTP %d", query, code)
	}
	return l.Server.Join(t, cred.SessionID, cred.Token, opts...)
}
