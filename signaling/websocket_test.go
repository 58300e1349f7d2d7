package signaling

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wsPair returns the two ends of a WebSocket on loopback: the dialing one
// and the accepting one.
func wsPair(t *testing.T) (client, server *WebSocket) {
	t.Helper()
	accepted := make(chan *WebSocket, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := AcceptWebSocket(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		accepted <- ws // the connection is hijacked: it outlives the handler
	}))
	t.Cleanup(hs.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	client, err := DialWebSocket(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	t.Cleanup(func() {
		client.CloseNow()
		server.CloseNow()
	})
	return client, server
}

// readAll reads ws until it fails, answering pings meanwhile, and returns
// the error.
func readAll(ws *WebSocket) <-chan error {
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := ws.ReadMessage(context.Background()); err != nil {
				done <- err
				return
			}
		}
	}()
	return done
}

// KeepAlive runs as long as the peer answers, until its context ends.
func TestKeepAliveWhilePeerAnswers(t *testing.T) {
	const interval, timeout = 20 * time.Millisecond, 100 * time.Millisecond
	client, server := wsPair(t)
	serverRead := readAll(server)
	clientRead := readAll(client) // answers the server's pings

	ctx, cancel := context.WithCancel(context.Background())
	alive := make(chan error, 1)
	go func() { alive <- server.KeepAlive(ctx, interval, timeout) }()
	select {
	case err := <-alive:
		t.Fatalf("keep-alive ended while the peer answered: %v", err)
	case <-time.After(10 * timeout): // ten pings and more answered
	}
	cancel()
	if err := <-alive; !errors.Is(err, context.Canceled) {
		t.Fatalf("keep-alive ended with %v, want context.Canceled", err)
	}
	client.CloseNow()
	<-clientRead
	<-serverRead
}

// A peer whose link is alive but which sends no pongs (here: it does not
// read) is taken for dead: KeepAlive drops the link, which fails the local
// reader, within interval+timeout.
func TestKeepAliveDropsSilentPeer(t *testing.T) {
	const interval, timeout = 20 * time.Millisecond, 100 * time.Millisecond
	_, server := wsPair(t)
	serverRead := readAll(server)
	start := time.Now()
	err := server.KeepAlive(context.Background(), interval, timeout)
	took := time.Since(start)
	if err == nil || took < timeout || took > interval+timeout+time.Second {
		t.Fatalf("keep-alive returned %v after %v, want an error after %v to %v", err, took, timeout, interval+timeout)
	}
	select {
	case <-serverRead:
	case <-time.After(5 * time.Second):
		t.Fatal("the reader did not fail once the keep-alive gave up")
	}
}
