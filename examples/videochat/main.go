// Videochat is a video room: everyone on /?room=NAME sees and hears
// everyone else, and can chat. Run it with
//
//	go run ./examples/videochat
//
// and open http://127.0.0.1:8080/?room=demo in a few tabs.
package main

import (
	_ "embed"
	"net/http"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/examples/internal/app"
)

//go:embed index.html
var page []byte

func main() {
	app.Main("videochat", handler)
}

// handler serves the room page, and publisher tokens for it.
func handler(a *app.App) http.Handler {
	mux := a.Mux(crossbar.RolePublisher)
	mux.Handle("GET /{$}", app.Page(page))
	return mux
}
