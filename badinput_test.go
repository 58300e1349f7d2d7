package crossbar_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/signaling"
)

func dialRaw(t *testing.T, url string) *signaling.WebSocket {
	t.Helper()
	ws, err := signaling.DialWebSocket(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	return ws
}

func send(t *testing.T, ws signaling.Transport, m *signaling.Message) {
	t.Helper()
	b, err := signaling.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteMessage(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, ws signaling.Transport) *signaling.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := ws.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	m, err := signaling.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// readUntilClosed reads until the server closes the transport, and fails
// the test if it does not within a few seconds.
func readUntilClosed(t *testing.T, ws signaling.Transport) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		if _, err := ws.ReadMessage(ctx); err != nil {
			if ctx.Err() != nil {
				t.Fatal("server did not close the transport")
			}
			return
		}
	}
}

func TestBadInputBeforeConnect(t *testing.T) {
	h := newHarness(t, crossbar.Config{})
	cases := map[string]string{
		"malformed json":   `{"v":1,"type":`,
		"wrong version":    `{"v":99,"type":"connect"}`,
		"signal first":     `{"v":1,"type":"signal","id":3,"signal":{"data":"x"}}`,
		"no type":          `{"v":1}`,
		"connect no token": `{"v":1,"type":"connect","id":1}`,
	}
	want := map[string]int{"malformed json": 1011, "wrong version": 1011, "signal first": 1010, "no type": 1011, "connect no token": 1004}
	for name, msg := range cases {
		t.Run(name, func(t *testing.T) {
			ws := dialRaw(t, h.ws)
			if err := ws.WriteMessage(context.Background(), []byte(msg)); err != nil {
				t.Fatal(err)
			}
			if m := read(t, ws); m.Type != signaling.TypeError || m.Error.Code != want[name] {
				t.Fatalf("got %+v %+v", m, m.Error)
			}
			readUntilClosed(t, ws)
		})
	}
}

func TestBadInputAfterConnect(t *testing.T) {
	h := newHarness(t, crossbar.Config{})
	s := h.session()
	ws := rawJoin(t, h, s, crossbar.RolePublisher).ws
	for _, msg := range []string{`nonsense`, `{"v":1,"type":"teleport","id":7}`, `{"v":1,"type":"signal","id":8}`, `{"v":1,"type":"connect","id":9}`} {
		if err := ws.WriteMessage(context.Background(), []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if m := read(t, ws); m.Type != signaling.TypeError || m.Error.Code != 1011 {
			t.Fatalf("%s: got %+v %+v", msg, m, m.Error)
		}
	}
	// The connection survives bad input.
	send(t, ws, &signaling.Message{Type: signaling.TypeSignal, ID: 10, Signal: &signaling.Signal{Data: "ok"}})
	if m := read(t, ws); m.Type != signaling.TypeSignal {
		t.Fatalf("got %+v", m)
	}
	if m := read(t, ws); m.Type != signaling.TypeOK || m.Re != 10 {
		t.Fatalf("got %+v", m)
	}
}

func TestOversizedFrameClosesTransport(t *testing.T) {
	h := newHarness(t, crossbar.Config{ReconnectGrace: -1})
	s := h.session()
	ws := rawJoin(t, h, s, crossbar.RolePublisher).ws
	big := `{"v":1,"type":"signal","signal":{"data":"` + strings.Repeat("x", signaling.MaxMessageSize) + `"}}`
	ws.WriteMessage(context.Background(), []byte(big))
	readUntilClosed(t, ws)
	waitConnections(t, s, 0)
}

func TestFloodIsRateLimited(t *testing.T) {
	h := newHarness(t, crossbar.Config{})
	s := h.session()
	ws := rawJoin(t, h, s, crossbar.RolePublisher).ws
	for i := range 300 {
		b, _ := signaling.Encode(&signaling.Message{ID: uint64(i + 1), Type: signaling.TypeSignal, Signal: &signaling.Signal{To: "nobody", Data: "x"}})
		if err := ws.WriteMessage(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	limited := 0
	for range 300 {
		m := read(t, ws)
		if m.Type == signaling.TypeError && m.Error.Code == 1560 {
			limited++
			if m.Re == 0 {
				t.Fatal("a rate-limited request's error does not name the request: its caller would wait forever")
			}
		}
	}
	if limited < 100 {
		t.Fatalf("only %d of 300 flooded messages were rate limited", limited)
	}
}

// A client that never reads loses signals first, then is disconnected once
// its queue is full of events, and the session carries on.
func TestClientThatNeverReadsIsDropped(t *testing.T) {
	h := newHarness(t, crossbar.Config{ReconnectGrace: -1})
	s := h.session()
	rawJoin(t, h, s, crossbar.RolePublisher) // never read again
	talker := h.connect(s, crossbar.RolePublisher, "talker")
	data := strings.Repeat("x", 8000)
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := s.Signal(crossbar.SignalOptions{Data: data})
		if errors.Is(err, crossbar.ErrSignalDropped) {
			break // the silent client's queue is half full: signals are dropped for it
		}
		if time.Now().After(deadline) {
			t.Fatalf("signals to the silent client were never dropped (last: %v)", err)
		}
		time.Sleep(time.Millisecond) // a pace the reading client keeps up with
	}
	if n := len(s.Connections()); n != 2 {
		t.Fatalf("%d connections after signals were dropped, want 2", n)
	}
	for len(s.Connections()) > 1 {
		if time.Now().After(deadline) {
			t.Fatal("the silent client was never dropped")
		}
		s.ForceMuteAll() // events to everyone, which are never dropped
		s.DisableForceMute()
		time.Sleep(time.Millisecond)
	}
	if err := talker.Signal(context.Background(), "", "t", "x"); err != nil {
		t.Fatal(err)
	}
}

func waitConnections(t *testing.T, s *crossbar.Session, n int) {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprintf("%d connections (have %d)", n, len(s.Connections())), func() bool { return len(s.Connections()) == n })
}
