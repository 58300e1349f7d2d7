// Moderation shows a moderator at work: participants on /?room=NAME
// publish and see each other; the moderator on /moderator?room=NAME sees
// every connection and stream, and can disconnect people, stop their
// streams and mute them. Run it with
//
//	go run ./examples/moderation
//
// and open http://127.0.0.1:8080/?room=demo in a few tabs and
// http://127.0.0.1:8080/moderator?room=demo in another.
package main

import (
	_ "embed"
	"net/http"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/examples/internal/app"
)

var (
	//go:embed room.html
	roomPage []byte
	//go:embed moderator.html
	moderatorPage []byte
)

func main() {
	app.Main("moderation", handler)
}

// handler serves the participants' page and the moderator's page, with
// publisher and moderator tokens.
func handler(a *app.App) http.Handler {
	mux := a.Mux(crossbar.RolePublisher, crossbar.RoleModerator)
	mux.Handle("GET /{$}", app.Page(roomPage))
	mux.Handle("GET /moderator", app.Page(moderatorPage))
	return mux
}
