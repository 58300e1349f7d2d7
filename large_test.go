package crossbar_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// A session of 3,000 connections with the largest connection data stays
// joinable: the initial state comes in pieces that fit the protocol's
// message limit, and beyond the connection events limit a join costs the
// other clients no message.
func TestLargeSessionJoinable(t *testing.T) {
	if testing.Short() {
		t.Skip("3,000 connections")
	}
	const (
		joins = 3000
		limit = 150
	)
	h := newHarness(t, crossbar.Config{ConnectionEventsLimit: limit})
	s := h.session()
	data := strings.Repeat("x", crossbar.MaxConnectionData)
	connect := func(i int, opts *client.Options) (*client.Session, time.Duration) {
		tok, err := h.srv.GenerateToken(s.ID(), crossbar.TokenOptions{Role: crossbar.RoleSubscriber, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		start := time.Now()
		c, err := client.Connect(ctx, h.ws, tok, opts)
		if err != nil {
			t.Fatalf("join %d: %v", i+1, err)
		}
		took := time.Since(start)
		t.Cleanup(func() { c.Disconnect() })
		return c, took
	}

	// One client that listens, one that asked for no connection events.
	first, _ := connect(0, nil)
	suppressed, _ := connect(1, &client.Options{ConnectionEventsSuppressed: true})
	var times []time.Duration
	var last *client.Session
	for i := 2; i < joins; i++ {
		c, took := connect(i, nil)
		times = append(times, took)
		n := len(c.Connections())
		switch {
		case i < limit && n != i+1:
			t.Fatalf("join %d sees %d connections, want %d", i+1, n, i+1)
		case i >= limit && n != 1:
			t.Fatalf("join %d (past the limit) sees %d connections, want only itself", i+1, n)
		}
		if i == limit-1 {
			last = c // the largest state: 150 connections of 1,000 bytes, over MaxMessageSize
		}
	}
	if got := len(s.Connections()); got != joins {
		t.Fatalf("session has %d connections, want %d", got, joins)
	}
	if n := len(last.Connections()); n*crossbar.MaxConnectionData < signaling.MaxMessageSize {
		t.Fatalf("the largest state (%d connections) fits one message: the test proves nothing", n)
	}

	// The listening client heard of every join before the limit, and of
	// none after it; the suppressed one heard of none.
	count := func(c *client.Session) int {
		n := 0
		for {
			select {
			case ev := <-c.Events():
				if ev.Type == signaling.TypeConnectionCreated && ev.Connection.ID != "" {
					n++
				}
			case <-time.After(500 * time.Millisecond):
				return n
			}
		}
	}
	// first's own initial connectionCreated, then one for each of the
	// other limit-1 loud joins.
	if got := count(first); got != limit {
		t.Errorf("the first client got %d connectionCreated, want %d", got, limit)
	}
	if got := count(suppressed); got != 0 {
		t.Errorf("a client that suppressed connection events got %d", got)
	}
	early, late := times[:limit-2], times[len(times)-(limit-2):]
	t.Logf("join (connect to last piece of state): first %d median %v, last %d median %v",
		len(early), median(early), len(late), median(late))
}

// The browser client takes a large session's state in pieces, and honours
// connectionEventsSuppressed: no connection events, and the connections of
// streams it learns from streamCreated.
func TestJSLargeSessionState(t *testing.T) {
	r := newJSRig(t)
	s := r.session()
	ws := "ws" + strings.TrimPrefix(r.url, "http") + "/crossbar/ws"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const others = 140 // 140 connections of 1,000 bytes are more than one message
	data := strings.Repeat("y", crossbar.MaxConnectionData)
	for range others {
		c, err := client.Connect(ctx, ws, r.token(s, crossbar.RoleSubscriber, data), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Disconnect() })
	}
	listening, _ := r.join("listening", s, crossbar.RolePublisher)
	var n struct{ Conns, Created int }
	listening.Eval(`({conns: S.connections.length, created: types().filter((t) => t === 'connectionCreated').length})`, &n)
	if n.Conns != others+1 || n.Created != others+1 {
		t.Fatalf("the page knows %d connections and saw %d connectionCreated, want %d", n.Conns, n.Created, others+1)
	}

	quiet := r.browser.Open(t, "quiet", r.url+"/")
	var res jsResult
	quiet.Eval(fmt.Sprintf(`join(%s, %s, {connectionEventsSuppressed: true})`, jsString(s.ID()), jsString(r.token(s, crossbar.RolePublisher, "quiet"))), &res)
	if res.Error != nil {
		t.Fatalf("connect: %+v", res.Error)
	}
	bot := r.goClient(ctx, s, "bot-data")
	pub, err := bot.Publish(ctx, client.PublishOptions{Name: "bot", Audio: true})
	if err != nil {
		t.Fatal(err)
	}
	synthCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- pub.Synthesize(synthCtx, client.SynthOptions{}) }()
	defer func() {
		stop()
		<-done
	}()
	quiet.Wait("streamCreated", `log.some((e) => e.type === 'streamCreated')`, mediaWait)
	var got struct {
		Conns   int
		Created int
		Data    string
	}
	quiet.Eval(`({conns: S.connections.length, created: types().filter((t) => t === 'connectionCreated').length,
		data: S.streams.find().connection.data})`, &got)
	if got.Created != 0 || got.Conns != 2 || got.Data != "bot-data" {
		t.Fatalf("suppressed page: %+v, want no connectionCreated, 2 connections (itself and the publisher), the publisher's data", got)
	}
	listening.Wait("the bot's connectionCreated", `types().filter((t) => t === 'connectionCreated').length === `+fmt.Sprint(others+3), mediaWait)
}
