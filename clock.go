package crossbar

import "time"

// Clock is the time the server's session logic runs on: the issue and
// expiry of tokens, checked at connect and at every action, revocations,
// the reconnect grace period of a connection whose link dropped, and the
// creation times of sessions, connections and streams. A
// test of an application's logic sets a fake one to move time on at will
// (package crossbartest has one); the media engine, keep-alives and rate
// limits always run on the system's time.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f once d has passed, unless the returned Timer is
	// stopped first, as time.AfterFunc does. f may run on any goroutine
	// that holds none of the server's locks: its own, or the one that
	// moved a fake clock on.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a function a Clock will call, as a *time.Timer of AfterFunc.
type Timer interface {
	// Stop prevents the call if it has not happened yet, and reports
	// whether it did so.
	Stop() bool
}

// systemClock is the system's time.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
