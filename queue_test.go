package crossbar

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A client whose queue overflows is ended once, however many messages
// overflow it, after the session lock is released.
func TestOverflowEndsConnectionOnce(t *testing.T) {
	s := newTestSession(t)
	c := &Connection{id: "slow", session: s, token: &TokenInfo{}, out: newOutbox()}
	s.mu.Lock()
	s.conns[c.id] = c
	for range outboxSize + 1000 {
		s.queueLocked(c, []byte("{}"))
	}
	queued := len(s.after)
	s.unlock()
	if queued != 1 {
		t.Fatalf("%d disconnects queued, want 1", queued)
	}
	if _, err := s.Connection(c.id); err == nil {
		t.Fatal("the overflowing connection is still in the session")
	}
}

// The engine's callbacks, some on forwarding goroutines, return at once
// while the session lock is held; their work is done once it is released.
func TestEngineEventsDoNotWaitForTheSession(t *testing.T) {
	s := newTestSession(t)
	c := &Connection{id: "publisher", session: s, token: &TokenInfo{}, out: newOutbox()}
	st := &Stream{id: "camera", connection: c}
	s.mu.Lock()
	s.conns[c.id] = c
	returned := make(chan struct{})
	go func() {
		s.layerDemand(st, []string{"q", "h", "f"}, []bool{true, false, true})
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("layerDemand waited for the session lock")
	}
	s.unlock()
	timeout := make(chan struct{})
	timer := time.AfterFunc(5*time.Second, func() { close(timeout) })
	defer timer.Stop()
	b, _ := c.out.next(timeout)
	if b == nil {
		t.Fatal("the layers message was never queued")
	}
	if !strings.Contains(string(b), `"type":"layers"`) || !strings.Contains(string(b), `"rid":"h","active":false`) {
		t.Fatalf("got %s", b)
	}
}

// newTestSession returns a session of a server closed with the test.
func newTestSession(t *testing.T) *Session {
	t.Helper()
	srv, err := New(Config{APIKey: "12345678", APISecret: "0123456789abcdef0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	s, err := srv.CreateSession(context.Background(), SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
