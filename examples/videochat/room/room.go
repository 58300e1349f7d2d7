// Package room is the videochat example's video room: its page, and the
// handler that serves it with publisher tokens. Package main of
// examples/videochat serves it alone; examples/cluster serves it on every
// node of a cluster.
package room

import (
	_ "embed"
	"net/http"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/examples/internal/app"
)

//go:embed index.html
var page []byte

// Handler serves the room page at / (everyone on /?room=NAME sees and
// hears everyone else, and can chat), and publisher tokens for it.
func Handler(a *app.App) http.Handler {
	mux := a.Mux(crossbar.RolePublisher)
	mux.Handle("GET /{$}", app.Page(page))
	return mux
}
