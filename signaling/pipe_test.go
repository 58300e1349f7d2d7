package signaling

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A pipe's write waits for the reader: its context, and Close from either
// end, end the wait.
func TestPipeWriteWaitsForReader(t *testing.T) {
	a, b := Pipe()
	defer a.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := a.WriteMessage(ctx, []byte("unread")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write nobody read: %v, want context.DeadlineExceeded", err)
	}

	wrote := make(chan error, 1)
	go func() { wrote <- a.WriteMessage(context.Background(), []byte("unread")) }()
	b.Close()
	select {
	case err := <-wrote:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("pending write ended with %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a pending write outlived the peer's Close")
	}
	if err := a.WriteMessage(context.Background(), []byte("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after Close: %v, want ErrClosed", err)
	}
}

// The first way a pipe ends is the one both ends report.
func TestPipeEndsOnce(t *testing.T) {
	a, b := Pipe()
	a.CloseNow()
	b.Close()
	for _, end := range []*PipeEnd{a, b} {
		if _, err := end.ReadMessage(context.Background()); !errors.Is(err, errDropped) {
			t.Errorf("read from a dropped pipe: %v, want it dropped", err)
		}
	}
}
