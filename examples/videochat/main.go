// Videochat is a video room: everyone on /?room=NAME sees and hears
// everyone else, and can chat. Run it with
//
//	go run ./examples/videochat
//
// and open http://127.0.0.1:8080/?room=demo in a few tabs. The page and
// its handler are in package room, which examples/cluster serves too.
package main

import (
	"github.com/crossbar-rtc/crossbar/examples/internal/app"
	"github.com/crossbar-rtc/crossbar/examples/videochat/room"
)

func main() {
	app.Main("videochat", room.Handler)
}
