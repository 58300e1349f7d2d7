package crossbar

import (
	"context"
	"testing"
)

// A client whose queue overflows is ended once, however many messages
// overflow it, after the session lock is released.
func TestOverflowEndsConnectionOnce(t *testing.T) {
	srv, err := New(Config{APIKey: "12345678", APISecret: "0123456789abcdef0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	s, err := srv.CreateSession(context.Background(), SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
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
