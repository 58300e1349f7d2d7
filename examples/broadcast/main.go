// Broadcast is one-to-many video: a host publishes on /host?room=NAME and
// any number of viewers watch on /?room=NAME with subscriber tokens, which
// cannot publish. Run it with
//
//	go run ./examples/broadcast
//
// and open http://127.0.0.1:8080/host?room=demo, then
// http://127.0.0.1:8080/?room=demo in other tabs.
package main

import (
	_ "embed"
	"net/http"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/examples/internal/app"
)

var (
	//go:embed host.html
	hostPage []byte
	//go:embed watch.html
	watchPage []byte
)

func main() {
	app.Main("broadcast", handler)
}

// handler serves the host's page and the viewers' page. Viewers get
// subscriber tokens; the host page asks for a publisher token.
func handler(a *app.App) http.Handler {
	mux := a.Mux(crossbar.RoleSubscriber, crossbar.RolePublisher)
	mux.Handle("GET /{$}", app.Page(watchPage))
	mux.Handle("GET /host", app.Page(hostPage))
	return mux
}
