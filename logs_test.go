package crossbar_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// TestPionLogsBelowInfoWithIDs publishes and subscribes with Go clients and
// reads the server's logs: Pion's info messages come at Debug, none at
// Info, and those of a client's peer connections name its session and
// connection.
func TestPionLogsBelowInfoWithIDs(t *testing.T) {
	logs := &jsonLog{}
	h := newHarness(t, crossbar.Config{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	s := h.session()
	pc, sub, _ := flowMedia(t, h, s, 50)
	pubConn := pc.Connection().ID
	if st := sub.Stats(); st.Audio.Packets+st.Video.Packets < 50 {
		t.Fatalf("subscriber got %+v", st)
	}

	var pionDebug, withIDs int
	for _, r := range logs.records(t) {
		if r["pion"] == nil {
			continue
		}
		if r["level"] != slog.LevelDebug.String() {
			if r["level"] == slog.LevelInfo.String() {
				t.Errorf("Pion's message at Info: %v", r)
			}
			continue
		}
		pionDebug++
		if r["session"] == s.ID() && r["connection"] == pubConn {
			withIDs++
		}
	}
	if pionDebug == 0 || withIDs == 0 {
		t.Errorf("%d Pion messages at Debug, %d of them naming session %s and connection %s", pionDebug, withIDs, s.ID(), pubConn)
	}
}

// flowMedia connects a publisher and a subscriber, Go clients on loopback,
// to s; the publisher sends synthetic audio and video until the test ends
// or stop is called, and flowMedia returns once the subscriber received
// packets of both. It returns the publisher's connection and the
// subscription.
func flowMedia(t *testing.T, h *harness, s *crossbar.Session, packets uint64) (pc *client.Session, sub *client.Subscriber, stop func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	opts := &client.Options{Media: client.MediaOptions{LoopbackOnly: true}}
	pc, err := client.Connect(ctx, h.ws, h.token(s, crossbar.RolePublisher, "publisher"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Disconnect() })
	pub, err := pc.Publish(ctx, client.PublishOptions{Name: "synth", Audio: true, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	synthCtx, cancelSynth := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- pub.Synthesize(synthCtx, client.SynthOptions{}) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancelSynth()
			if err := <-done; err != nil {
				t.Errorf("synthesize: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	sc, err := client.Connect(ctx, h.ws, h.token(s, crossbar.RoleSubscriber, "subscriber"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sc.Disconnect() })
	st, err := pub.WaitCreated(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sub, err = sc.Subscribe(ctx, st.ID, client.SubscribeOptions{Audio: true, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "media at the subscriber", func() bool {
		st := sub.Stats()
		return st.Audio.Packets >= packets/2 && st.Video.Packets >= packets/2
	})
	return pc, sub, stop
}

// jsonLog keeps the lines of a slog.JSONHandler.
type jsonLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *jsonLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// records returns the lines so far, decoded.
func (l *jsonLog) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var list []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.b.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("log line %q: %v", sc.Bytes(), err)
		}
		list = append(list, r)
	}
	return list
}

// TestKeepAliveLogNamesTheConnection: the server's log of a WebSocket
// client that stops answering pings names its session and connection.
func TestKeepAliveLogNamesTheConnection(t *testing.T) {
	logs := &jsonLog{}
	h := newHarness(t, crossbar.Config{PingInterval: 100 * time.Millisecond, PingTimeout: 200 * time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	s := h.session()
	ws := dialRaw(t, h.ws)
	send(t, ws, &signaling.Message{Type: signaling.TypeConnect, ID: 1, Token: h.token(s, crossbar.RolePublisher, "mute")})
	m := read(t, ws)
	if m.Type != signaling.TypeConnected {
		t.Fatalf("connect: %+v", m)
	}
	// The client reads nothing more: it answers no ping.
	var line map[string]any
	waitFor(t, 10*time.Second, "the server's log of the unanswered pings", func() bool {
		for _, r := range logs.records(t) {
			if r["msg"] == "client stopped answering pings" {
				line = r
				return true
			}
		}
		return false
	})
	if line["session"] != s.ID() || line["connection"] != m.Connection.ID {
		t.Fatalf("logged %v, want session %s and connection %s", line, s.ID(), m.Connection.ID)
	}
}
