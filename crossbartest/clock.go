package crossbartest

import (
	"slices"
	"sync"
	"time"

	"github.com/crossbar-rtc/crossbar"
)

// Clock is a fake crossbar.Clock for the server's session logic: its time
// moves only when Advance is called, which calls the functions that fell
// due meanwhile (the end of a reconnect grace period, say), in order, on
// the caller's goroutine. Tokens are issued and expire by it. Its zero
// value is not ready: use NewClock.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64   // orders timers due at the same time
	timers []*timer // pending, in no order
}

// NewClock returns a clock that reads now until moved on.
func NewClock(now time.Time) *Clock { return &Clock{now: now} }

// timer is a function a Clock will call.
type timer struct {
	c    *Clock
	when time.Time
	seq  uint64
	f    func()
}

// Now implements crossbar.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc implements crossbar.Clock: f is called by the Advance that
// moves the clock d or more on.
func (c *Clock) AfterFunc(d time.Duration, f func()) crossbar.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &timer{c: c, when: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

// Stop implements crossbar.Timer.
func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	i := slices.Index(t.c.timers, t)
	if i < 0 {
		return false
	}
	t.c.timers = slices.Delete(t.c.timers, i, i+1)
	return true
}

// Advance moves the clock d on. Each function due by then is called when
// the clock reads its time, earliest first, with the clock's lock released:
// it may read the clock and set new timers, which are called too if due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		t := c.nextDue(end)
		if t == nil {
			return
		}
		t.f()
	}
}

// nextDue removes and returns the earliest timer due by end, with the
// clock set to its time, or sets the clock to end and returns nil.
func (c *Clock) nextDue(end time.Time) *timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	var next *timer
	for _, t := range c.timers {
		if !t.when.After(end) && (next == nil || t.when.Before(next.when) || t.when.Equal(next.when) && t.seq < next.seq) {
			next = t
		}
	}
	if next == nil {
		c.now = end
		return nil
	}
	c.timers = slices.DeleteFunc(c.timers, func(t *timer) bool { return t == next })
	if next.when.After(c.now) {
		c.now = next.when
	}
	return next
}
