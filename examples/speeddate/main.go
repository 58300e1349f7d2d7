// Speeddate shows one other person at a time: every page on /?room=NAME
// publishes its camera and watches exactly one stream. "Next" switches to
// the next person; the host can also move everyone on at once with
// POST /rotate?room=NAME, which tells each page whom to watch. Run it with
//
//	go run ./examples/speeddate
//
// and open http://127.0.0.1:8080/?room=demo in a few tabs.
package main

import (
	_ "embed"
	"fmt"
	"net/http"
	"sync"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/examples/internal/app"
)

//go:embed index.html
var page []byte

func main() {
	app.Main("speeddate", handler)
}

// handler serves the page, publisher tokens and the rotate command.
func handler(a *app.App) http.Handler {
	mux := a.Mux(crossbar.RolePublisher)
	mux.Handle("GET /{$}", app.Page(page))
	var r rotator
	mux.HandleFunc("POST /rotate", func(w http.ResponseWriter, req *http.Request) {
		s, err := a.Room(req.Context(), req.URL.Query().Get("room"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		n, err := r.rotate(s)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = fmt.Fprintf(w, "%d people moved on\n", n)
	})
	return mux
}

// rotator pairs people for successive rounds of a room.
type rotator struct {
	mu     sync.Mutex
	rounds map[string]int // room session id -> rounds so far
}

// rotate starts the next round: with the streams in publishing order, the
// publisher of stream i watches stream i+round (mod n), so that round after
// round everyone meets everyone. Each publisher is told with a "date"
// signal whose data is the stream id to watch. It returns how many were
// told.
func (r *rotator) rotate(s *crossbar.Session) (int, error) {
	streams := s.Streams()
	n := len(streams)
	if n < 2 {
		return 0, nil
	}
	r.mu.Lock()
	if r.rounds == nil {
		r.rounds = map[string]int{}
	}
	r.rounds[s.ID()] = r.rounds[s.ID()]%(n-1) + 1
	round := r.rounds[s.ID()]
	r.mu.Unlock()
	for i, st := range streams {
		date := streams[(i+round)%n]
		err := s.Signal(crossbar.SignalOptions{To: st.Connection().ID(), Type: "date", Data: date.ID()})
		if err != nil {
			return i, err
		}
	}
	return n, nil
}
