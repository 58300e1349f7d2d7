package crossbar_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/cluster"
	"github.com/crossbar-rtc/crossbar/internal/redistest"
	"github.com/crossbar-rtc/crossbar/sfu"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// moveNode is a node of a cluster whose clients can move: its server,
// its Redis client, and the proxy its clients reach it through, which a
// crash takes away.
type moveNode struct {
	srv   *crossbar.Server
	rdb   *redis.Client
	proxy *proxy
	ws    string // through the proxy
}

// newMoveCluster starts n nodes sharing a real redis-server.
func newMoveCluster(t *testing.T, n int) []*moveNode {
	t.Helper()
	rs := redistest.Start(t)
	var nodes []*moveNode
	for i := range n {
		nodes = append(nodes, startNode(t, rs, fmt.Sprintf("node%d", i+1), crossbar.Config{}))
	}
	return nodes
}

// startNode starts a node of the cluster on rs, configured as cfg.
func startNode(t *testing.T, rs *redistest.Server, id string, cfg crossbar.Config) *moveNode {
	t.Helper()
	rdb := rs.Client()
	bus, err := cluster.NewRedis(context.Background(), cluster.RedisOptions{Client: rdb, Node: cluster.Node{ID: id}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = bus.Close() // after the server, whose cleanup runs first
		_ = rdb.Close()
	})
	cfg.Cluster, cfg.Logger = bus, debugLogger(id)
	h := newHarness(t, cfg)
	p, ws := newProxy(t, h.ws)
	return &moveNode{srv: h.srv, rdb: rdb, proxy: p, ws: ws}
}

// crash takes the node away as kill -9 would: its heartbeats and its
// clients' links stop at once, without a goodbye, and its media with them.
func (n *moveNode) crash() {
	_ = n.rdb.Close()
	n.proxy.close()   // links reset, new ones refused
	_ = n.srv.Close() // its goodbyes go nowhere now
}

// balancer is a load balancer without health checks: each dial goes to the
// next node, round robin.
type balancer struct {
	mu   sync.Mutex
	urls []string
	next int
}

// balance returns a balancer over nodes, whose first dial goes to node
// first.
func balance(nodes []*moveNode, first int) *balancer {
	b := &balancer{}
	for i := range nodes {
		b.urls = append(b.urls, nodes[(first+i)%len(nodes)].ws)
	}
	return b
}

// pick returns the URL of the next dial.
func (b *balancer) pick() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	url := b.urls[b.next%len(b.urls)]
	b.next++
	return url
}

// replace makes the balancer send to the node at url instead of old.
func (b *balancer) replace(old, url string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.urls[slices.Index(b.urls, old)] = url
}

// mover connects a Go media client through a balancer that starts at node
// first, and records its events.
func mover(t *testing.T, nodes []*moveNode, first int, s *crossbar.Session, data string) (*client.Session, *eventLog) {
	t.Helper()
	c, l, _ := balanced(t, balance(nodes, first), nodes[0].srv, s, data)
	return c, l
}

// balanced connects a Go media client through b and records its events.
// It also returns the URL of the node it last connected to.
func balanced(t *testing.T, b *balancer, srv *crossbar.Server, s *crossbar.Session, data string) (*client.Session, *eventLog, *atomic.Pointer[string]) {
	t.Helper()
	tok, err := srv.GenerateToken(s.ID(), crossbar.TokenOptions{Role: crossbar.RoleModerator, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	var at atomic.Pointer[string]
	dial := func(ctx context.Context) (signaling.Transport, error) {
		url := b.pick()
		tr, err := signaling.DialWebSocket(ctx, url, nil)
		if err == nil {
			at.Store(&url)
		}
		return tr, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.ConnectTransport(ctx, dial, tok, &client.Options{Media: client.MediaOptions{LoopbackOnly: true}})
	if err != nil {
		t.Fatalf("connect %s: %v", data, err)
	}
	t.Cleanup(func() { c.Disconnect() })
	return c, record(t, c), &at
}

// eventLog records every event of a client.
type eventLog struct {
	mu     sync.Mutex
	events []client.Event
}

func record(t *testing.T, c *client.Session) *eventLog {
	l := &eventLog{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range c.Events() {
			l.mu.Lock()
			l.events = append(l.events, ev)
			l.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		c.Disconnect()
		<-done
	})
	return l
}

// of returns the recorded events of the given types.
func (l *eventLog) of(types ...signaling.Type) []client.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var list []client.Event
	for _, ev := range l.events {
		if slices.Contains(types, ev.Type) {
			list = append(list, ev)
		}
	}
	return list
}

// signals returns the data of the signals received of type typ.
func (l *eventLog) signals(typ string) []string {
	var list []string
	for _, ev := range l.of(signaling.TypeSignal) {
		if ev.Signal.Type == typ {
			list = append(list, ev.Signal.Data)
		}
	}
	return list
}

// subscribeClocked subscribes c to a stream, once it knows it, and clocks
// its packets.
func subscribeClocked(t *testing.T, c *client.Session, streamID string) *packetClock {
	t.Helper()
	waitFor(t, 10*time.Second, "the stream's streamCreated", func() bool {
		return slices.ContainsFunc(c.Streams(), func(st signaling.Stream) bool { return st.ID == streamID })
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := c.Subscribe(ctx, streamID, client.SubscribeOptions{Audio: true, Video: true})
	if err != nil {
		t.Fatalf("subscribe to %s: %v", streamID, err)
	}
	return clock(t, sub)
}

// chatter sends signals of type typ from c to to (empty: all), numbered
// from 0, every 20 ms until stop is called, which returns the result of
// each: whether the server said it sent it. A signal whose request failed
// (its link dropped) may have been sent or not.
func chatter(c *client.Session, to, typ string) (stop func() []bool) {
	quit := make(chan struct{})
	done := make(chan []bool)
	go func() {
		var sent []bool
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				done <- sent
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			sent = append(sent, c.Signal(ctx, to, typ, fmt.Sprint(len(sent))) == nil)
			cancel()
		}
	}()
	return func() []bool {
		close(quit)
		return <-done
	}
}

// delivered returns the numbers of the signals the server said it sent.
func delivered(sent []bool) int {
	n := 0
	for _, ok := range sent {
		if ok {
			n++
		}
	}
	return n
}

// checkOnce checks that got, the data of the signals received, has every
// signal the server said it sent, none twice, in order, and no other but
// those whose request failed.
func checkOnce(t *testing.T, who, what string, got []string, sent []bool) {
	t.Helper()
	last := -1
	seen := map[int]bool{}
	for _, d := range got {
		var n int
		if _, err := fmt.Sscan(d, &n); err != nil || n <= last || n >= len(sent) {
			t.Errorf("%s got %s signals %v: out of order, twice, or never sent (sent: %v)", who, what, got, sent)
			return
		}
		last, seen[n] = n, true
	}
	for n, ok := range sent {
		if ok && !seen[n] {
			t.Errorf("%s lost %s signal %d: got %v", who, what, n, got)
		}
	}
}

// quartet is a three-node cluster's session and four clients of it: alice publishes and
// subscribes and dave subscribes, on node 1; bob on node 2 and carol on
// node 3, who publishes too; with their events and clocks of their
// subscriptions, which all have media.
type quartet struct {
	nodes                   []*moveNode
	s                       *crossbar.Session
	alice, dave, bob, carol *client.Session
	alicePub                *client.Publisher
	logs                    map[string]*eventLog
	clocks                  map[string]*packetClock
}

func fourClients(t *testing.T) quartet {
	t.Helper()
	nodes := newMoveCluster(t, 3)
	s, err := nodes[0].srv.CreateSession(context.Background(), crossbar.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	q := quartet{nodes: nodes, s: s, logs: map[string]*eventLog{}}
	for _, c := range []struct {
		c    **client.Session
		name string
		node int
	}{{&q.alice, "alice", 0}, {&q.dave, "dave", 0}, {&q.bob, "bob", 1}, {&q.carol, "carol", 2}} {
		*c.c, q.logs[c.name] = mover(t, nodes, c.node, s, c.name)
	}
	q.alicePub = synthesize(t, q.alice, "alice")
	carolPub := synthesize(t, q.carol, "carol")
	q.clocks = map[string]*packetClock{
		"bob <- alice":   subscribeClocked(t, q.bob, q.alicePub.StreamID()),
		"carol <- alice": subscribeClocked(t, q.carol, q.alicePub.StreamID()),
		"alice <- carol": subscribeClocked(t, q.alice, carolPub.StreamID()),
		"dave <- carol":  subscribeClocked(t, q.dave, carolPub.StreamID()),
	}
	before := time.Now()
	for what, pc := range q.clocks {
		waitFor(t, 15*time.Second, what+": media before the move", func() bool { return pc.since(before) })
	}
	return q
}

// TestClusterClientsMoveWhenTheirNodeDies: node 1 dies as with kill -9.
// Its clients, one publishing and subscribing, one subscribing, resume
// through the load balancer on live nodes with the same connection and
// stream ids; nobody sees them leave. Media flows again to and from them,
// and the signals to and from them during the move arrive once each.
func TestClusterClientsMoveWhenTheirNodeDies(t *testing.T) {
	q := fourClients(t)
	nodes := q.nodes
	alice, dave, bob, carol, alicePub, clocks := q.alice, q.dave, q.bob, q.carol, q.alicePub, q.clocks
	aliceLog, daveLog, bobLog, carolLog := q.logs["alice"], q.logs["dave"], q.logs["bob"], q.logs["carol"]
	ids := map[string]string{"alice": alice.Connection().ID, "dave": dave.Connection().ID}
	streamID := alicePub.StreamID()

	stopToAlice := chatter(bob, alice.Connection().ID, "toAlice")
	stopToAll := chatter(carol, "", "toAll")
	stopFromAlice := chatter(alice, "", "fromAlice")
	crashed := time.Now()
	nodes[0].crash()
	for what, pc := range clocks {
		waitFor(t, 15*time.Second, what+": media after the crash", func() bool { return pc.since(crashed.Add(100 * time.Millisecond)) })
	}
	back := time.Since(crashed)
	toAlice, toAll, fromAlice := stopToAlice(), stopToAll(), stopFromAlice()
	// It goes on after the others took node 1 for dead (3 s).
	for what, pc := range clocks {
		waitFor(t, 15*time.Second, what+": media once node 1 is known dead", func() bool { return pc.since(crashed.Add(4 * time.Second)) })
	}

	if alice.Connection().ID != ids["alice"] || dave.Connection().ID != ids["dave"] || alicePub.StreamID() != streamID {
		t.Errorf("ids changed: alice %s dave %s stream %s, want %v and stream %s", alice.Connection().ID, dave.Connection().ID, alicePub.StreamID(), ids, streamID)
	}
	for _, n := range nodes[1:] {
		for _, id := range ids {
			if _, err := nodeSession(t, n.srv, q.s).Connection(id); err != nil {
				t.Errorf("a live node lost a moved connection: %v", err)
			}
		}
	}
	// The signals sent during the move arrive once each, in order.
	waitFor(t, 10*time.Second, "every signal sent", func() bool {
		return len(aliceLog.signals("toAlice")) >= delivered(toAlice) && len(daveLog.signals("toAll")) >= delivered(toAll) &&
			len(bobLog.signals("fromAlice")) >= delivered(fromAlice) && len(daveLog.signals("fromAlice")) >= delivered(fromAlice)
	})
	checkOnce(t, "alice", "toAlice", aliceLog.signals("toAlice"), toAlice)
	checkOnce(t, "alice", "toAll", aliceLog.signals("toAll"), toAll)
	checkOnce(t, "dave", "toAll", daveLog.signals("toAll"), toAll)
	checkOnce(t, "bob", "fromAlice", bobLog.signals("fromAlice"), fromAlice)
	checkOnce(t, "dave", "fromAlice", daveLog.signals("fromAlice"), fromAlice)
	for who, l := range map[string]*eventLog{"alice": aliceLog, "bob": bobLog, "carol": carolLog, "dave": daveLog} {
		if ev := l.of(signaling.TypeConnectionDestroyed, signaling.TypeStreamDestroyed, signaling.TypeSessionDisconnected); len(ev) > 0 {
			t.Errorf("%s saw %+v", who, ev)
		}
	}
	for what, pc := range clocks {
		t.Logf("%s: longest video gap %v", what, pc.longestGap().Round(10*time.Millisecond))
	}
	t.Logf("media back on every subscription %v after the crash; signals sent: %d/%d to alice, %d/%d to all, %d/%d from alice",
		back.Round(10*time.Millisecond), delivered(toAlice), len(toAlice), delivered(toAll), len(toAll), delivered(fromAlice), len(fromAlice))
}

func debugLogger(name string) *slog.Logger {
	if os.Getenv("CROSSBAR_DEBUG") == "" {
		return nil
	}
	level := slog.LevelInfo
	if os.Getenv("CROSSBAR_DEBUG") == "debug" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("node", name)
}

// TestClusterDrainMovesClients: node 1 drains, as for a rolling deploy.
// Its clients move to the other nodes with their ids, without telling
// their applications they were reconnecting, and Shutdown returns once
// they have all moved. The media of every subscription, to and from them,
// carries on with at most a short gap, and signals arrive once each.
func TestClusterDrainMovesClients(t *testing.T) {
	q := fourClients(t)
	nodes := q.nodes
	alice, dave, bob, alicePub, clocks := q.alice, q.dave, q.bob, q.alicePub, q.clocks
	aliceLog, daveLog, bobLog, carolLog := q.logs["alice"], q.logs["dave"], q.logs["bob"], q.logs["carol"]
	ids := []string{alice.Connection().ID, dave.Connection().ID, alicePub.StreamID()}

	stopToAlice := chatter(bob, alice.Connection().ID, "toAlice")
	stopFromAlice := chatter(alice, "", "fromAlice")
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := nodes[0].srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	drained := time.Since(start)
	after := time.Now()
	for what, pc := range clocks {
		waitFor(t, 10*time.Second, what+": media after the drain", func() bool { return pc.since(after) })
	}
	toAlice, fromAlice := stopToAlice(), stopFromAlice()

	if got := []string{alice.Connection().ID, dave.Connection().ID, alicePub.StreamID()}; !slices.Equal(got, ids) {
		t.Errorf("ids changed: %v, want %v", got, ids)
	}
	waitFor(t, 10*time.Second, "every signal sent", func() bool {
		return len(aliceLog.signals("toAlice")) >= delivered(toAlice) && len(bobLog.signals("fromAlice")) >= delivered(fromAlice)
	})
	checkOnce(t, "alice", "toAlice", aliceLog.signals("toAlice"), toAlice)
	checkOnce(t, "bob", "fromAlice", bobLog.signals("fromAlice"), fromAlice)
	for who, l := range map[string]*eventLog{"alice": aliceLog, "bob": bobLog, "carol": carolLog, "dave": daveLog} {
		if ev := l.of(signaling.TypeConnectionDestroyed, signaling.TypeStreamDestroyed, signaling.TypeSessionDisconnected,
			client.TypeReconnecting, client.TypeReconnected); len(ev) > 0 {
			t.Errorf("%s saw %+v", who, ev)
		}
	}
	var longest time.Duration
	for what, pc := range clocks {
		t.Logf("%s: longest video gap %v", what, pc.longestGap().Round(10*time.Millisecond))
		longest = max(longest, pc.longestGap())
	}
	t.Logf("drained in %v; signals sent: %d/%d to alice, %d/%d from alice", drained.Round(10*time.Millisecond),
		delivered(toAlice), len(toAlice), delivered(fromAlice), len(fromAlice))
	// The aim is under 1 s; the bound leaves room for a busy machine.
	if longest > 3*time.Second {
		t.Errorf("a subscription went %v without video", longest)
	}
}

// TestClusterRelayedClientMoves: in a relayed session media goes between
// clients, so a node's death costs it nothing: its client moves to a live
// node with its ids, the subscription to its stream carries on, and a
// client of a third node then subscribes to the stream through the node
// it moved to.
func TestClusterRelayedClientMoves(t *testing.T) {
	nodes := newMoveCluster(t, 3)
	s, err := nodes[0].srv.CreateSession(context.Background(), crossbar.SessionOptions{MediaMode: crossbar.Relayed})
	if err != nil {
		t.Fatal(err)
	}
	alice, aliceLog := mover(t, nodes, 0, s, "alice")
	bob, bobLog := mover(t, nodes, 1, s, "bob")
	carol, _ := mover(t, nodes, 2, s, "carol")
	pub := synthesize(t, alice, "alice")
	bobClock := subscribeClocked(t, bob, pub.StreamID())
	before := time.Now()
	waitFor(t, 15*time.Second, "bob's media before the crash", func() bool { return bobClock.since(before) })
	id := alice.Connection().ID

	crashed := time.Now()
	nodes[0].crash()
	waitFor(t, 15*time.Second, "alice back", func() bool { return len(aliceLog.of(client.TypeReconnected)) > 0 })
	carolClock := subscribeClocked(t, carol, pub.StreamID())
	after := time.Now()
	waitFor(t, 15*time.Second, "media to bob after the move", func() bool { return bobClock.since(after) })
	waitFor(t, 15*time.Second, "media to carol after the move", func() bool { return carolClock.since(after) })
	if alice.Connection().ID != id {
		t.Errorf("alice is %s, was %s", alice.Connection().ID, id)
	}
	for who, l := range map[string]*eventLog{"alice": aliceLog, "bob": bobLog} {
		if ev := l.of(signaling.TypeConnectionDestroyed, signaling.TypeStreamDestroyed, signaling.TypeSessionDisconnected); len(ev) > 0 {
			t.Errorf("%s saw %+v", who, ev)
		}
	}
	t.Logf("bob's longest video gap %v across the crash (at %v)", bobClock.longestGap().Round(10*time.Millisecond), time.Since(crashed).Round(10*time.Millisecond))
}

// TestMovedStreamWithoutMediaEnds: a client takes its connection over on
// another node (here a bare protocol client, with the key the dead node
// gave it) but does not publish its stream again: the stream ends, reason
// mediaStopped, PublishTimeout after the move; the connection stays.
func TestMovedStreamWithoutMediaEnds(t *testing.T) {
	rs := redistest.Start(t)
	// Long enough that a loaded machine sets the publisher up within it.
	cfg := crossbar.Config{Media: sfu.Config{PublishTimeout: 3 * time.Second}}
	nodes := []*moveNode{startNode(t, rs, "node1", cfg), startNode(t, rs, "node2", cfg)}
	s, err := nodes[0].srv.CreateSession(context.Background(), crossbar.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := nodes[0].srv.GenerateToken(s.ID(), crossbar.TokenOptions{Role: crossbar.RolePublisher, Data: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	alice, err := client.Connect(ctx, nodes[0].ws, tok, &client.Options{ReconnectFor: -1, Media: client.MediaOptions{LoopbackOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Disconnect()
	pub := synthesize(t, alice, "alice")
	bob, bobLog := mover(t, nodes, 1, s, "bob")
	waitFor(t, 20*time.Second, "bob knows alice's stream", func() bool {
		return slices.ContainsFunc(bob.Streams(), func(st signaling.Stream) bool { return st.ID == pub.StreamID() })
	})
	self := alice.Connection()
	nodes[0].crash()

	// A wrong key takes nothing over.
	forged, err := signaling.DialWebSocket(ctx, nodes[1].ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := signaling.Encode(&signaling.Message{Type: signaling.TypeConnect, ID: 1, Token: tok,
		Resume: &signaling.Resume{ConnectionID: self.ID, Key: self.ResumeKey + "x"}})
	if err := forged.WriteMessage(ctx, b); err != nil {
		t.Fatal(err)
	}
	b, err = forged.ReadMessage(ctx)
	signaling.CloseNow(forged)
	if m, _ := signaling.Decode(b); err != nil || m.Type != signaling.TypeError || m.Error.Code != 404 {
		t.Fatalf("resuming with a wrong key: %s, %v; want error 404", b, err)
	}

	ws, err := signaling.DialWebSocket(ctx, nodes[1].ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer signaling.CloseNow(ws)
	b, _ = signaling.Encode(&signaling.Message{Type: signaling.TypeConnect, ID: 1, Token: tok,
		Resume: &signaling.Resume{ConnectionID: self.ID, Key: self.ResumeKey}})
	if err := ws.WriteMessage(ctx, b); err != nil {
		t.Fatal(err)
	}
	b, err = ws.ReadMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m, err := signaling.Decode(b)
	if err != nil || m.Type != signaling.TypeConnected || !m.Moved || m.Connection.ID != self.ID ||
		!slices.ContainsFunc(m.Streams, func(st signaling.Stream) bool { return st.ID == pub.StreamID() }) {
		t.Fatalf("resuming on node 2: %+v, %v; want connected, moved, with alice's stream", m, err)
	}
	moved := time.Now()
	waitFor(t, 20*time.Second, "alice's stream ends", func() bool { return len(bobLog.of(signaling.TypeStreamDestroyed)) > 0 })
	ev := bobLog.of(signaling.TypeStreamDestroyed)[0]
	if ev.Stream.ID != pub.StreamID() || ev.Reason != string(crossbar.ReasonMediaStopped) {
		t.Errorf("bob saw %+v %s, want alice's stream, mediaStopped", ev.Stream, ev.Reason)
	}
	if took := time.Since(moved); took < cfg.Media.PublishTimeout-100*time.Millisecond {
		t.Errorf("the stream ended %v after the move, before PublishTimeout", took)
	}
	if c := bobLog.of(signaling.TypeConnectionDestroyed); len(c) > 0 {
		t.Errorf("bob saw %+v", c)
	}
}

// TestClusterMoveToANodeWithoutTheSession: a client of node 1 moves to
// node 2, which has no client of their session yet, while another client
// of node 1 and it signal each other: node 2 comes to the session with it,
// and takes from node 1 the signals sent there to it meanwhile, which node
// 1 had queued for its lost link. Each arrives once.
func TestClusterMoveToANodeWithoutTheSession(t *testing.T) {
	nodes := newMoveCluster(t, 2)
	s, err := nodes[0].srv.CreateSession(context.Background(), crossbar.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	px, viaProxy := newProxy(t, nodes[0].ws) // alice's link to node 1
	alice, aliceLog, _ := balanced(t, &balancer{urls: []string{viaProxy, nodes[1].ws}}, nodes[0].srv, s, "alice")
	bob, bobLog := mover(t, nodes, 0, s, "bob")
	stops := []func() []bool{
		chatter(bob, alice.Connection().ID, "toAlice"),
		chatter(alice, "", "fromAlice"),
		chatter(bob, "", "fromBob"),
	}
	waitFor(t, 10*time.Second, "signals before the move", func() bool { return len(aliceLog.signals("fromBob")) > 5 })
	px.close() // node 1 lives on; the balancer sends alice to node 2
	waitFor(t, 10*time.Second, "alice on node 2", func() bool { return len(aliceLog.of(client.TypeReconnected)) > 0 })
	n := len(aliceLog.signals("fromBob"))
	waitFor(t, 10*time.Second, "signals after the move", func() bool { return len(aliceLog.signals("fromBob")) > n+5 })
	toAlice, fromAlice, fromBob := stops[0](), stops[1](), stops[2]()
	if !poll(10*time.Second, func() bool {
		return len(aliceLog.signals("toAlice")) >= delivered(toAlice) && len(bobLog.signals("fromAlice")) >= delivered(fromAlice) &&
			len(aliceLog.signals("fromBob")) >= delivered(fromBob) && len(bobLog.signals("fromBob")) >= delivered(fromBob)
	}) {
		t.Errorf("not every signal sent arrived: alice got toAlice %v of %v, fromBob %v of %v; bob got fromAlice %v of %v, fromBob %v of %v",
			aliceLog.signals("toAlice"), toAlice, aliceLog.signals("fromBob"), fromBob, bobLog.signals("fromAlice"), fromAlice, bobLog.signals("fromBob"), fromBob)
	}
	checkOnce(t, "alice", "toAlice", aliceLog.signals("toAlice"), toAlice)
	checkOnce(t, "alice", "fromBob", aliceLog.signals("fromBob"), fromBob)
	checkOnce(t, "alice", "fromAlice", aliceLog.signals("fromAlice"), fromAlice)
	checkOnce(t, "bob", "fromAlice", bobLog.signals("fromAlice"), fromAlice)
	checkOnce(t, "bob", "fromBob", bobLog.signals("fromBob"), fromBob)
	for who, l := range map[string]*eventLog{"alice": aliceLog, "bob": bobLog} {
		if ev := l.of(signaling.TypeConnectionDestroyed, signaling.TypeSessionDisconnected); len(ev) > 0 {
			t.Errorf("%s saw %+v", who, ev)
		}
	}
	t.Logf("signals sent: %d/%d to alice, %d/%d from alice, %d/%d from bob",
		delivered(toAlice), len(toAlice), delivered(fromAlice), len(fromAlice), delivered(fromBob), len(fromBob))
}

// TestClusterStreamMovesTwice: as in the cluster example's rolling deploy
// and crash, c1, c2 and c3 publish on nodes 1, 2 and 3 and subscribe to
// each other. Node 2 drains, and c2 moves to node 3; node 3 then dies, and
// c2, whose stream moves a second time, and c3 move to node 1, where
// publishers and subscribers come at once. Every subscription gets video
// again after each move.
func TestClusterStreamMovesTwice(t *testing.T) {
	nodes := newMoveCluster(t, 3)
	s, err := nodes[0].srv.CreateSession(context.Background(), crossbar.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	routes := [][]string{{nodes[0].ws}, {nodes[1].ws, nodes[2].ws, nodes[0].ws}, {nodes[2].ws, nodes[0].ws}}
	clients := make([]*client.Session, 3)
	pubs := make([]*client.Publisher, 3)
	for i, urls := range routes {
		name := fmt.Sprint("c", i+1)
		clients[i], _, _ = balanced(t, &balancer{urls: urls}, nodes[0].srv, s, name)
		pubs[i] = synthesize(t, clients[i], name)
	}
	subs := map[string]*client.Subscriber{}
	for i, c := range clients {
		for j, pub := range pubs {
			if i == j {
				continue
			}
			what := fmt.Sprintf("c%d <- c%d", i+1, j+1)
			waitFor(t, 10*time.Second, what+": streamCreated", func() bool {
				return slices.ContainsFunc(c.Streams(), func(st signaling.Stream) bool { return st.ID == pub.StreamID() })
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			sub, err := c.Subscribe(ctx, pub.StreamID(), client.SubscribeOptions{Audio: true, Video: true})
			cancel()
			if err != nil {
				t.Fatalf("%s: subscribe: %v", what, err)
			}
			go func() { // the packets are counted as they are read
				for {
					if _, _, err := sub.ReadRTP(context.Background()); err != nil {
						return
					}
				}
			}()
			subs[what] = sub
		}
	}
	moreVideo := func(when string) {
		t.Helper()
		from := map[string]uint64{}
		for what, sub := range subs {
			from[what] = sub.Stats().Video.Packets
		}
		for what, sub := range subs {
			waitFor(t, 15*time.Second, what+": video "+when, func() bool { return sub.Stats().Video.Packets >= from[what]+25 })
		}
	}
	moreVideo("before the moves")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := nodes[1].srv.Shutdown(ctx); err != nil {
		t.Fatalf("node 2's shutdown: %v", err)
	}
	moreVideo("once c2 moved to node 3")
	nodes[2].crash()
	moreVideo("once c2 and c3 moved to node 1")
}
