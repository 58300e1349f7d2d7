package crossbar

import (
	"log/slog"
	"sync"
)

// dispatcher runs functions one at a time, in the order they were posted,
// on a goroutine of its own that exists only while work is queued: the
// host's callbacks (a slow one delays later ones, never the session), or
// the engine's events (which wait for the session lock there, not on the
// engine's goroutines). Posting never blocks.
type dispatcher struct {
	log     *slog.Logger
	what    string // what it runs, for the log
	mu      sync.Mutex
	queue   []func()
	running bool
}

func (d *dispatcher) post(f func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.queue = append(d.queue, f)
	if !d.running {
		d.running = true
		go d.run()
	}
}

func (d *dispatcher) run() {
	for {
		d.mu.Lock()
		if len(d.queue) == 0 {
			d.queue = nil
			d.running = false
			d.mu.Unlock()
			return
		}
		f := d.queue[0]
		d.queue[0] = nil
		d.queue = d.queue[1:]
		d.mu.Unlock()
		d.call(f)
	}
}

func (d *dispatcher) call(f func()) {
	defer func() {
		if r := recover(); r != nil {
			d.log.Error(d.what+" panicked", "panic", r)
		}
	}()
	f()
}
