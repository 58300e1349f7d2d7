// Package apptest serves an example app on loopback for its browser tests.
package apptest

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/examples/internal/app"
	"github.com/crossbar-rtc/crossbar/sfu"
)

// Serve serves the handler that build makes on a loopback HTTP server, with
// media on loopback only, until the test ends. It returns the base URL and
// the app.
func Serve(t testing.TB, build func(*app.App) http.Handler) (string, *app.App) {
	t.Helper()
	a, err := app.New(crossbar.Config{Media: sfu.Config{LoopbackOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(build(a))
	t.Cleanup(func() {
		if err := a.Server.Close(); err != nil {
			t.Errorf("close the crossbar server: %v", err)
		}
		hs.CloseClientConnections()
		hs.Close()
	})
	return hs.URL, a
}
