package signaling

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// transportPairs are the transports whose ends the contract tests check:
// every Transport of the package.
var transportPairs = map[string]func(t *testing.T) (a, b Transport){
	"pipe": func(t *testing.T) (Transport, Transport) {
		a, b := Pipe()
		t.Cleanup(func() {
			a.CloseNow()
			b.CloseNow()
		})
		return a, b
	},
	"websocket": func(t *testing.T) (Transport, Transport) {
		return wsPair(t)
	},
}

// forEachTransport runs test on a fresh pair of each transport.
func forEachTransport(t *testing.T, test func(t *testing.T, a, b Transport)) {
	for name, pair := range transportPairs {
		t.Run(name, func(t *testing.T) {
			a, b := pair(t)
			test(t, a, b)
		})
	}
}

// readWithin reads one message from tr, failing the test if that takes
// more than a few seconds.
func readWithin(t *testing.T, tr Transport) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := tr.ReadMessage(ctx)
	if ctx.Err() != nil {
		t.Fatal("read: nothing within 5 s")
	}
	return b, err
}

// Messages arrive whole and in order, both ways at once, with one reader
// and one writer per end (run with -race).
func TestTransportOrderBothWays(t *testing.T) {
	const n = 200
	forEachTransport(t, func(t *testing.T, a, b Transport) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for _, end := range []struct {
			name     string
			from, to Transport
		}{{"a→b", a, b}, {"b→a", b, a}} {
			wg.Add(2)
			go func() {
				defer wg.Done()
				buf := make([]byte, 0, 64)
				for i := range n {
					buf = fmt.Appendf(buf[:0], "%s %d", end.name, i) // reused: the transport must not keep it
					if err := end.from.WriteMessage(ctx, buf); err != nil {
						errs <- fmt.Errorf("%s: write %d: %w", end.name, i, err)
						return
					}
				}
			}()
			go func() {
				defer wg.Done()
				for i := range n {
					got, err := end.to.ReadMessage(ctx)
					if want := fmt.Sprintf("%s %d", end.name, i); err != nil || string(got) != want {
						errs <- fmt.Errorf("%s: read %q, %v; want %q", end.name, got, err, want)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// Close ends a pending read on both ends with ErrClosed; calling it again
// does no harm.
func TestTransportCloseUnblocksBothEnds(t *testing.T) {
	forEachTransport(t, func(t *testing.T, a, b Transport) {
		reads := make(chan error, 2)
		for _, end := range []Transport{a, b} {
			go func() {
				_, err := end.ReadMessage(context.Background())
				reads <- err
			}()
		}
		a.Close()
		a.Close()
		for range 2 {
			select {
			case err := <-reads:
				if !errors.Is(err, ErrClosed) {
					t.Errorf("pending read ended with %v, want ErrClosed", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("a pending read outlived Close")
			}
		}
	})
}

// A message written before Close is read before ErrClosed.
func TestTransportCloseAfterWrite(t *testing.T) {
	forEachTransport(t, func(t *testing.T, a, b Transport) {
		wrote := make(chan error, 1)
		go func() {
			err := a.WriteMessage(context.Background(), []byte("last words"))
			if err == nil {
				err = a.Close()
			}
			wrote <- err
		}()
		if got, err := readWithin(t, b); err != nil || string(got) != "last words" {
			t.Fatalf("read %q, %v; want the last words", got, err)
		}
		if _, err := readWithin(t, b); !errors.Is(err, ErrClosed) {
			t.Fatalf("read after the peer's Close: %v, want ErrClosed", err)
		}
		if err := <-wrote; err != nil {
			t.Fatalf("write and close: %v", err)
		}
	})
}

// CloseNow drops the transport: the peer's read fails, not with ErrClosed.
func TestTransportCloseNowIsAFailure(t *testing.T) {
	forEachTransport(t, func(t *testing.T, a, b Transport) {
		CloseNow(a)
		if _, err := readWithin(t, b); err == nil || errors.Is(err, ErrClosed) {
			t.Fatalf("read after the peer dropped the link: %v, want a failure", err)
		}
	})
}

// A read ends with its context.
func TestTransportReadHonoursContext(t *testing.T) {
	forEachTransport(t, func(t *testing.T, a, b Transport) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, err := b.ReadMessage(ctx)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("read ended with %v, want context.DeadlineExceeded", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a read outlived its context by seconds")
		}
	})
}

// A message over MaxMessageSize fails the link, as the WebSocket's read limit
// does; one of exactly MaxMessageSize gets through.
func TestTransportRefusesOversizedMessage(t *testing.T) {
	forEachTransport(t, func(t *testing.T, a, b Transport) {
		largest := bytes.Repeat([]byte("x"), MaxMessageSize)
		go a.WriteMessage(context.Background(), largest)
		if got, err := readWithin(t, b); err != nil || len(got) != MaxMessageSize {
			t.Fatalf("read %d bytes, %v; want %d", len(got), err, MaxMessageSize)
		}
		go a.WriteMessage(context.Background(), append(largest, 'x'))
		if got, err := readWithin(t, b); err == nil || errors.Is(err, ErrClosed) {
			t.Fatalf("read %d bytes, %v; want a failed link", len(got), err)
		}
	})
}
