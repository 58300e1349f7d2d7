package crossbartest

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// eventLog keeps every event a participant saw, in order, and which of
// them a wait has taken.
type eventLog struct {
	mu      sync.Mutex
	events  []client.Event
	taken   []bool
	ended   bool          // the client delivers no more
	changed chan struct{} // closed, and replaced, when events come or end
}

func newEventLog() *eventLog { return &eventLog{changed: make(chan struct{})} }

// read logs the events of ch until it closes.
func (l *eventLog) read(ch <-chan client.Event) {
	for ev := range ch {
		l.mu.Lock()
		l.events = append(l.events, ev)
		l.taken = append(l.taken, false)
		l.notifyLocked()
		l.mu.Unlock()
	}
	l.mu.Lock()
	l.ended = true
	l.notifyLocked()
	l.mu.Unlock()
}

func (l *eventLog) notifyLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// all returns the events logged so far.
func (l *eventLog) all() []client.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]client.Event(nil), l.events...)
}

// take waits for the earliest event not taken yet that match accepts,
// marks it taken and returns it. It fails when ctx ends or no more events
// can come first, with an error that lists every event seen.
func (l *eventLog) take(ctx context.Context, who, what string, match func(client.Event) bool) (client.Event, error) {
	for {
		l.mu.Lock()
		for i, ev := range l.events {
			if !l.taken[i] && match(ev) {
				l.taken[i] = true
				l.mu.Unlock()
				return ev, nil
			}
		}
		ended, changed := l.ended, l.changed
		l.mu.Unlock()
		if ended {
			return client.Event{}, l.failure(who, what, "the session ended")
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return client.Event{}, l.failure(who, what, ctx.Err().Error())
		}
	}
}

// failure says that who saw no what, and what it saw instead.
func (l *eventLog) failure(who, what, why string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "crossbartest: %s saw no %s (%s); it saw:", who, what, why)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.events) == 0 {
		b.WriteString(" nothing")
	}
	for i, ev := range l.events {
		mark := ""
		if l.taken[i] {
			mark = " (taken by an earlier wait)"
		}
		fmt.Fprintf(&b, "\n\t%d. %s%s", i+1, Describe(ev), mark)
	}
	return fmt.Errorf("%s", b.String())
}

// Describe returns a one-line account of an event, for logs and failures.
func Describe(ev client.Event) string {
	var b strings.Builder
	b.WriteString(string(ev.Type))
	if c := ev.Connection; c != nil {
		fmt.Fprintf(&b, " connection %s %q", c.ID, c.Data)
	}
	if st := ev.Stream; st != nil {
		fmt.Fprintf(&b, " stream %s %q of %s (audio %v, video %v)", st.ID, st.Name, st.ConnectionID, st.HasAudio, st.HasVideo)
	}
	if ch := ev.Change; ch != nil {
		fmt.Fprintf(&b, " %s %v -> %v", ch.Property, ch.OldValue, ch.NewValue)
	}
	if sig := ev.Signal; sig != nil {
		fmt.Fprintf(&b, " %q from %s: %q", sig.Type, orHost(sig.From), sig.Data)
	}
	if ev.StreamID != "" {
		fmt.Fprintf(&b, " stream %s", ev.StreamID)
	}
	if ev.Active != nil {
		fmt.Fprintf(&b, " active %v", *ev.Active)
	}
	if ev.Reason != "" {
		fmt.Fprintf(&b, " (%s)", ev.Reason)
	}
	return b.String()
}

// orHost names the sender of a signal: a connection, or the host.
func orHost(from string) string {
	if from == "" {
		return "the host"
	}
	return from
}

// is returns a match for events of type typ.
func is(typ signaling.Type) func(client.Event) bool {
	return func(ev client.Event) bool { return ev.Type == typ }
}
