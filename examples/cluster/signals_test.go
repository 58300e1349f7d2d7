//go:build unix

package main

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// chatter has members signal the whole session every 50 ms, numbering
// their signals, while nodes stop under them; members note the signals
// they get as they read their events (member.note).
type chatter struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	sent map[string][]sentSignal // by sender's name, in order: the nth is n-1
}

// sentSignal is one signal a member sent: when, and whether the server
// took it (one that failed, as its link dropped in a move, may have been
// sent or not).
type sentSignal struct {
	at time.Time
	ok bool
}

// chat starts members signalling.
func chat(members []*member) *chatter {
	ctx, cancel := context.WithCancel(context.Background())
	ch := &chatter{cancel: cancel, sent: map[string][]sentSignal{}}
	for _, m := range members {
		ch.wg.Add(1)
		go func() {
			defer ch.wg.Done()
			for n := 1; ctx.Err() == nil; n++ {
				at := time.Now()
				err := m.Signal(ctx, "", "seq", m.name+" "+strconv.Itoa(n))
				ch.mu.Lock()
				ch.sent[m.name] = append(ch.sent[m.name], sentSignal{at, err == nil})
				ch.mu.Unlock()
				select {
				case <-ctx.Done():
				case <-time.After(50 * time.Millisecond):
				}
			}
		}()
	}
	return ch
}

// check stops the chatter, has every member signal its last, and checks
// that every member got every member's signals in order and at most once,
// and all those the server took (it answers once the other nodes can have
// them: a node killed after answering loses none).
func (ch *chatter) check(t *testing.T, members []*member) {
	t.Helper()
	ch.cancel()
	ch.wg.Wait()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, m := range members {
		// Sent as the link dropped, it may not have gone: again, once.
		// Sent while the client reconnects, it waits for the new link.
		err := m.Signal(ctx, "", "seq", m.name+" end")
		if errors.Is(err, client.ErrDisconnected) {
			err = m.Signal(ctx, "", "seq", m.name+" end")
		}
		if err != nil {
			t.Fatalf("%s signalling its last: %v", m.name, err)
		}
	}
	for _, m := range members {
		for slices.ContainsFunc(members, func(o *member) bool { return !m.ended[o.name] }) {
			select {
			case ev := <-m.Events():
				m.note(ev)
			case <-ctx.Done():
				t.Fatalf("%s got the last signals of %v only", m.name, m.ended)
			}
		}
	}
	var taken int
	for _, from := range members {
		sent := ch.sent[from.name]
		for _, m := range members {
			got := m.heard[from.name]
			if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
				t.Errorf("%s got %s's signals %v: out of order or twice", m.name, from.name, got)
			}
			for i, s := range sent {
				if s.ok && !slices.Contains(got, i+1) {
					t.Errorf("%s never got %s's signal %d, sent %v", m.name, from.name, i+1, s.at.Format("15:04:05.000"))
				}
			}
			if n := len(got); n > 0 && got[n-1] > len(sent) {
				t.Errorf("%s got %s's signal %d, which was never sent", m.name, from.name, got[n-1])
			}
		}
		for _, s := range sent {
			if s.ok {
				taken++
			}
		}
	}
	t.Logf("%d signals taken, each to %d members", taken, len(members))
}

// note notes a signal of the chatter's in m's events.
func (m *member) note(ev client.Event) {
	if ev.Type != signaling.TypeSignal || ev.Signal == nil || ev.Signal.Type != "seq" {
		return
	}
	name, n, _ := strings.Cut(ev.Signal.Data, " ")
	if m.heard == nil {
		m.heard, m.ended = map[string][]int{}, map[string]bool{}
	}
	if n == "end" {
		m.ended[name] = true
		return
	}
	if i, err := strconv.Atoi(n); err == nil {
		m.heard[name] = append(m.heard[name], i)
	}
}
