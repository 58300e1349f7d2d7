package sfu

import (
	"sync"
	"time"
)

// tickInterval is the period of the engine's tick, on which publishers get
// their TWCC feedback and NACKs.
const tickInterval = 100 * time.Millisecond

// tickMember is a publishing connection's periodic work: a feedback
// interceptor that sends what it gathered since the last tick.
type tickMember interface {
	tick(now time.Time)
}

// ticker runs the periodic work of every publishing connection of an
// engine on one goroutine and one timer, instead of a goroutine and a
// timer for each piece of work of each connection (two 100 ms tickers a
// connection, woken whether or not media flows). Members do nothing on a
// tick with nothing to send; what they write leaves in one batch of the
// UDP sockets. The goroutine runs while the ticker has members.
type ticker struct {
	writes batcher // batches what the members write

	mu      sync.Mutex
	members []tickMember
	running bool
	closed  bool
	done    chan struct{} // closed by stop
	wg      sync.WaitGroup
}

func newTicker(writes batcher) *ticker {
	return &ticker{writes: writes, done: make(chan struct{})}
}

// add makes m tick until remove; after stop it does nothing.
func (t *ticker) add(m tickMember) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.members = append(t.members, m)
	if !t.running {
		t.running = true
		t.wg.Add(1)
		go t.loop()
	}
}

// remove stops m's ticks. A tick under way may still call it.
func (t *ticker) remove(m tickMember) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, x := range t.members {
		if x == m {
			last := len(t.members) - 1
			t.members[i] = t.members[last]
			t.members[last] = nil
			t.members = t.members[:last]
			return
		}
	}
}

// stop ends the ticks and waits for the goroutine.
func (t *ticker) stop() {
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		close(t.done)
	}
	t.mu.Unlock()
	t.wg.Wait()
}

// loop ticks the members until the ticker stops or has none left.
func (t *ticker) loop() {
	defer t.wg.Done()
	clock := time.NewTicker(tickInterval)
	defer clock.Stop()
	var batch []tickMember // the members of this tick, reused
	for {
		select {
		case <-t.done:
			return
		case now := <-clock.C:
			t.mu.Lock()
			if len(t.members) == 0 {
				t.running = false
				t.mu.Unlock()
				return
			}
			batch = append(batch[:0], t.members...)
			t.mu.Unlock()
			t.writes.holdWrites()
			for _, m := range batch {
				m.tick(now)
			}
			t.writes.releaseWrites()
			clear(batch)
		}
	}
}
