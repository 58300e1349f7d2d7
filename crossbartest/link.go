package crossbartest

import (
	"context"
	"errors"
	"sync"

	"github.com/crossbar-rtc/crossbar/signaling"
)

// errCut is what a participant's dial meets while its link is cut.
var errCut = errors.New("crossbartest: the signaling link is cut")

// link is a participant's signaling link: each dial opens a new in-memory
// pipe that the server serves, as a WebSocket would be, until cut.
type link struct {
	ts *Server

	mu     sync.Mutex
	cut    bool
	end    *signaling.PipeEnd // the participant's end of the last pipe
	served chan struct{}      // closed once the server stopped serving it
}

// dial implements client.Dialer.
func (l *link) dial(ctx context.Context) (signaling.Transport, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut {
		return nil, errCut
	}
	end, served, err := l.ts.serve()
	if err != nil {
		return nil, err
	}
	l.end, l.served = end, served
	return end, nil
}

// drop cuts the link, as a failed network would, and returns once the
// server noticed: the connection is detached, its grace period running.
// Dials fail until restore.
func (l *link) drop() {
	l.mu.Lock()
	l.cut = true
	end, served := l.end, l.served
	l.mu.Unlock()
	if end == nil {
		return
	}
	_ = end.CloseNow()
	<-served
}

// restore lets dials through again.
func (l *link) restore() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = false
}
