package crossbar_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"
	"github.com/redis/go-redis/v9"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/cluster"
	"github.com/crossbar-rtc/crossbar/crossbartest"
	"github.com/crossbar-rtc/crossbar/internal/browsertest"
	"github.com/crossbar-rtc/crossbar/internal/redistest"
	"github.com/crossbar-rtc/crossbar/sfu"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// node is one server of a test cluster, and its Redis client.
type node struct {
	*harness
	rdb *redis.Client
}

// newCluster starts n servers sharing a real redis-server.
func newCluster(t *testing.T, n int, cfg crossbar.Config) (*redistest.Server, []*node) {
	t.Helper()
	rs := redistest.Start(t)
	nodes := make([]*node, n)
	for i := range nodes {
		bus, rdb := nodeBus(t, rs, i+1)
		c := cfg
		c.Cluster = bus
		nodes[i] = &node{harness: newHarness(t, c), rdb: rdb}
	}
	return rs, nodes
}

// on returns node n's Session object of the session s.
func (n *node) on(t *testing.T, s *crossbar.Session) *crossbar.Session {
	t.Helper()
	return nodeSession(t, n.srv, s)
}

// ids returns the ids of connections.
func ids(list []signaling.Connection) map[string]bool {
	m := map[string]bool{}
	for _, c := range list {
		m[c.ID] = true
	}
	return m
}

// nextConnection waits for the connectionCreated of the connection whose
// data is data; the client's own and others' are skipped.
func nextConnection(t *testing.T, cl *client.Session, data string) {
	t.Helper()
	for next(t, cl, signaling.TypeConnectionCreated).Connection.Data != data {
	}
}

// TestClusterSession: one session across three nodes. Clients on each see
// the others, their signals reach exactly their targets, streams and their
// changes are seen everywhere, and a host on one node moderates clients
// and streams of the others.
func TestClusterSession(t *testing.T) {
	_, nodes := newCluster(t, 3, crossbar.Config{})
	a, b, c := nodes[0], nodes[1], nodes[2]
	s := a.session()
	alice := a.connect(s, crossbar.RoleModerator, "alice")
	bob := b.connect(s, crossbar.RolePublisher, "bob")
	nextConnection(t, alice, "bob")
	carol := c.connect(s, crossbar.RolePublisher, "carol")
	for _, cl := range []*client.Session{alice, bob} {
		nextConnection(t, cl, "carol")
	}
	if got := ids(carol.Connections()); len(got) != 3 || !got[alice.Connection().ID] || !got[bob.Connection().ID] {
		t.Fatalf("carol joined on node 3 seeing %v, want alice, bob and herself", got)
	}
	for i, n := range nodes {
		if got := len(n.on(t, s).Connections()); got != 3 {
			t.Errorf("node %d's host sees %d connections, want 3", i+1, got)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A signal to one connection on another node, and one to everyone,
	// from another node: signals of different senders keep no order
	// between them.
	if err := carol.Signal(ctx, alice.Connection().ID, "chat", "to alice"); err != nil {
		t.Fatal(err)
	}
	if err := bob.Signal(ctx, "", "chat", "to all"); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"to alice": carol.Connection().ID, "to all": bob.Connection().ID}
	for range 2 {
		ev := next(t, alice, signaling.TypeSignal)
		if from, ok := want[ev.Signal.Data]; !ok || ev.Signal.From != from {
			t.Fatalf("alice got signal %+v, want carol's to her and bob's to all, once each", ev.Signal)
		}
		delete(want, ev.Signal.Data)
	}
	for _, cl := range []*client.Session{bob, carol} {
		if ev := next(t, cl, signaling.TypeSignal); ev.Signal.Data != "to all" {
			t.Fatalf("%s got signal %+v, want only the one to all", cl.Connection().Data, ev.Signal)
		}
	}

	// The host publishes on node 1; the others see the stream and, from
	// node 3, mute it.
	pub, err := s.Publish(crossbar.PublishOptions{Name: "bot", Audio: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}})
	if err != nil {
		t.Fatal(err)
	}
	streamID := pub.Stream().ID()
	for _, cl := range []*client.Session{bob, carol} {
		if ev := next(t, cl, signaling.TypeStreamCreated); ev.Stream.ID != streamID || ev.Stream.Name != "bot" {
			t.Fatalf("%s saw stream %+v, want the bot's", cl.Connection().Data, ev.Stream)
		}
	}
	if err := c.on(t, s).ForceMuteStream(streamID); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*client.Session{alice, bob, carol} {
		ev := next(t, cl, signaling.TypeStreamPropertyChanged)
		if ev.Change.Property != "hasAudio" || ev.Change.NewValue != false {
			t.Fatalf("%s saw change %+v, want hasAudio false", cl.Connection().Data, ev.Change)
		}
	}

	// A moderator on node 1 disconnects carol, on node 3.
	if err := alice.ForceDisconnect(ctx, carol.Connection().ID); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, carol, signaling.TypeSessionDisconnected); ev.Reason != string(crossbar.ReasonForceDisconnected) {
		t.Errorf("carol was disconnected with %q", ev.Reason)
	}
	for _, cl := range []*client.Session{alice, bob} {
		if ev := next(t, cl, signaling.TypeConnectionDestroyed); ev.Connection.ID != carol.Connection().ID || ev.Reason != string(crossbar.ReasonForceDisconnected) {
			t.Fatalf("%s saw %+v %q, want carol forceDisconnected", cl.Connection().Data, ev.Connection, ev.Reason)
		}
	}

	// A revocation on node 2 ends alice's connection on node 1.
	conn, err := s.Connection(alice.Connection().ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.srv.RevokeToken(ctx, conn.TokenID()); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, alice, signaling.TypeSessionDisconnected); ev.Reason != string(crossbar.ReasonTokenRevoked) {
		t.Errorf("alice was disconnected with %q, want tokenRevoked", ev.Reason)
	}
	if ev := next(t, bob, signaling.TypeConnectionDestroyed); ev.Connection.ID != alice.Connection().ID || ev.Reason != string(crossbar.ReasonTokenRevoked) {
		t.Errorf("bob saw %+v %q, want alice's tokenRevoked", ev.Connection, ev.Reason)
	}
}

// TestClusterLimits: the connection limit counts the connections of every
// node.
func TestClusterLimits(t *testing.T) {
	_, nodes := newCluster(t, 3, crossbar.Config{MaxConnectionsPerSession: 2})
	s := nodes[0].session()
	nodes[0].connect(s, crossbar.RolePublisher, "one")
	nodes[1].connect(s, crossbar.RolePublisher, "two")
	// Node 3 learns of the others from the records when the session comes
	// to life there, and from events after.
	on3 := nodes[2].on(t, s)
	waitFor(t, 10*time.Second, "node 3 sees both connections", func() bool { return len(on3.Connections()) == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := client.Connect(ctx, nodes[2].ws, nodes[2].token(s, crossbar.RolePublisher, "three"), nil)
	var se *signaling.Error
	if !errors.As(err, &se) || se.Code != 1027 {
		t.Fatalf("a third connection on node 3: %v, want error 1027", err)
	}
}

// TestClusterMedia: clients on node 2 subscribe to a stream node 1 serves,
// and its audio and video reach them over the node link; the host on node
// 2 reads it too; when it ends on node 1, it ends for them.
func TestClusterMedia(t *testing.T) {
	_, nodes := newCluster(t, 2, crossbar.Config{})
	s := nodes[0].session()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	var feeders sync.WaitGroup
	defer feeders.Wait()
	defer cancel()
	camera, err := s.Publish(crossbar.PublishOptions{Name: "camera", Audio: opus, Video: vp8})
	if err != nil {
		t.Fatal(err)
	}
	feedAV(ctx, &feeders, camera, vp8Keyframe)
	id := camera.Stream().ID()
	var viewers []*client.Session
	for i := range 2 {
		v := nodes[1].connect(s, crossbar.RoleSubscriber, fmt.Sprint("viewer ", i))
		for next(t, v, signaling.TypeStreamCreated).Stream.ID != id {
		}
		start := time.Now()
		sub, err := v.Subscribe(ctx, id, client.SubscribeOptions{Audio: true, Video: true})
		if err != nil {
			t.Fatalf("viewer %d on node 2 subscribing to node 1's stream: %v", i, err)
		}
		firstVideo := readAV(ctx, t, fmt.Sprint("viewer ", i), sub, 25)
		t.Logf("viewer %d: subscribe to first video packet across nodes: %v", i, firstVideo.Sub(start).Round(time.Millisecond))
		viewers = append(viewers, v)
	}
	rec, err := nodes[1].on(t, s).Subscribe(id, crossbar.SubscribeOptions{Video: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := rec.ReadRTP(ctx, webrtc.RTPCodecTypeVideo); err != nil {
			t.Fatalf("the host on node 2 reading node 1's stream: %v", err)
		}
	}
	_ = rec.Close()
	if err := camera.Unpublish(); err != nil {
		t.Fatal(err)
	}
	for _, v := range viewers {
		if ev := next(t, v, signaling.TypeStreamDestroyed); ev.Stream.ID != id {
			t.Fatalf("a viewer saw %+v destroyed", ev.Stream)
		}
	}
}

// readAV reads at least n audio and n video packets of a subscription, and
// returns when the first video packet came.
func readAV(ctx context.Context, t *testing.T, who string, sub *client.Subscriber, n int) (firstVideo time.Time) {
	t.Helper()
	var audio, video int
	for audio < n || video < n {
		_, kind, err := sub.ReadRTP(ctx)
		if err != nil {
			t.Fatalf("%s, after %d audio and %d video packets: %v", who, audio, video, err)
		}
		if kind == webrtc.RTPCodecTypeAudio {
			audio++
			continue
		}
		if video == 0 {
			firstVideo = time.Now()
		}
		video++
	}
	return firstVideo
}

// aliceAndBob starts two nodes, and a session with alice on node 1 and
// bob on node 2, who have seen each other.
func aliceAndBob(t *testing.T) (*redistest.Server, []*node, *crossbar.Session, *client.Session, *client.Session) {
	t.Helper()
	rs, nodes := newCluster(t, 2, crossbar.Config{})
	s := nodes[0].session()
	alice := nodes[0].connect(s, crossbar.RolePublisher, "alice")
	bob := nodes[1].connect(s, crossbar.RolePublisher, "bob")
	nextConnection(t, alice, "bob")
	return rs, nodes, s, alice, bob
}

// TestClusterNodeDies: the connections of a node that stops heartbeating
// (its Redis client gone, as in a crash) wait on the other nodes for
// their clients to move there, for the reconnect grace period. Those whose
// clients do not come then leave, for the clients of the other nodes,
// with reason networkDisconnected: within the node timeout (3 s) and the
// grace.
func TestClusterNodeDies(t *testing.T) {
	const grace = time.Second
	_, nodes := newCluster(t, 2, crossbar.Config{ReconnectGrace: grace})
	s := nodes[0].session()
	alice := nodes[0].connect(s, crossbar.RolePublisher, "alice")
	bob := nodes[1].connect(s, crossbar.RolePublisher, "bob")
	nextConnection(t, alice, "bob")
	start := time.Now()
	_ = nodes[1].rdb.Close() // node 2 can no longer beat
	ev := nextWithin(t, alice, 8*time.Second+grace, signaling.TypeConnectionDestroyed)
	if ev.Connection.ID != bob.Connection().ID || ev.Reason != string(crossbar.ReasonNetworkDisconnected) {
		t.Fatalf("alice saw %+v %q, want bob networkDisconnected", ev.Connection, ev.Reason)
	}
	t.Logf("the dead node's connection left after %v", time.Since(start).Round(10*time.Millisecond))
	if got := len(s.Connections()); got != 1 {
		t.Errorf("node 1 still lists %d connections, want 1", got)
	}
}

// TestClusterRedisLost: while Redis is down each node's clients carry on,
// actions across nodes fail with a clear error (a signal to everyone
// reaches this node's clients, and says it reached no others), and once Redis is back
// the nodes share again.
func TestClusterRedisLost(t *testing.T) {
	rs, nodes, s, alice, bob := aliceAndBob(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	rs.Stop()
	// A signal to everyone still reaches this node's clients; its sender
	// is told it reached no others.
	var se *signaling.Error
	if err := alice.Signal(ctx, "", "chat", "local"); !errors.As(err, &se) || se.Code != 2000 {
		t.Fatalf("a signal to everyone while Redis is down: %v, want error 2000", err)
	}
	if ev := next(t, alice, signaling.TypeSignal); ev.Signal.Data != "local" {
		t.Fatalf("alice got %+v", ev.Signal)
	}
	// A signal to bob, on the other node, fails once the bus is known lost.
	waitFor(t, 10*time.Second, "a signal across nodes fails while Redis is down", func() bool {
		err := alice.Signal(ctx, bob.Connection().ID, "chat", "lost")
		return errors.As(err, &se) && se.Code == 2000 && se.Message != "internal error"
	})

	rs.Start()
	// Signals across nodes get through again once both nodes listen on
	// Redis again (TestClusterSignalsAcrossRedisReturn: once each).
	var last error
	if !poll(10*time.Second, func() bool {
		if last = alice.Signal(ctx, bob.Connection().ID, "chat", "back"); last != nil {
			return false
		}
		for {
			select {
			case ev := <-bob.Events():
				if ev.Type == signaling.TypeSignal && ev.Signal.Data == "back" {
					return true
				}
				continue
			case <-time.After(200 * time.Millisecond):
			}
			return false
		}
	}) {
		t.Fatalf("no signal across nodes got through once Redis was back: %v", last)
	}
	// Nobody was taken for dead: both nodes still list both.
	for i, n := range nodes {
		if got := len(n.on(t, s).Connections()); got != 2 {
			t.Errorf("node %d lists %d connections after Redis came back, want 2", i+1, got)
		}
	}
}

// TestClusterSignalsAcrossRedisReturn: alice, on node 1, signals bob, on
// node 2, all along while Redis goes down and comes back. Those her node
// was told failed may or may not arrive; every other arrives once, in
// order, though the nodes subscribe again at their own pace once Redis is
// back and Redis keeps nothing for a node not yet there: the node asks the
// others for what it missed.
func TestClusterSignalsAcrossRedisReturn(t *testing.T) {
	rs, _, _, alice, bob := aliceAndBob(t)
	got := make(chan string, 1024)
	go func() {
		for ev := range bob.Events() {
			if ev.Type == signaling.TypeSignal && ev.Signal.Type == "across" {
				got <- ev.Signal.Data
			}
		}
		close(got)
	}()
	stop := chatter(alice, bob.Connection().ID, "across")
	var received []string
	receive := func(n int) {
		deadline := time.After(15 * time.Second)
		for len(received) < n {
			select {
			case d := <-got:
				received = append(received, d)
			case <-deadline:
				t.Fatalf("bob got %d signals, want %d", len(received), n)
			}
		}
	}
	receive(5)
	rs.Stop() // a restart, as in a failover: the nodes' links break
	rs.Start()
	receive(30) // until signals get through again, and a while after
	sent := stop()
	for len(received) < len(sent) {
		select {
		case d := <-got:
			received = append(received, d)
			continue
		case <-time.After(6 * time.Second): // the catch-up's bound, and more
		}
		break
	}
	checkOnce(t, "bob", "across", received, sent)
	t.Logf("%d signals sent, %d of them told they reached bob; bob got %d", len(sent), delivered(sent), len(received))
}

// redisCalls returns how many commands the server has run since its
// statistics were last reset.
func redisCalls(t *testing.T, rdb *redis.Client) int {
	t.Helper()
	n := 0
	for _, c := range redisCommands(t, rdb) {
		n += c
	}
	return n
}

// redisCommands returns how many times the server ran each command since
// its statistics were last reset, but INFO and CONFIG, the statistics'
// own.
func redisCommands(t *testing.T, rdb *redis.Client) map[string]int {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	cmds := map[string]int{}
	for _, line := range strings.Split(info, "\n") {
		// cmdstat_publish:calls=3,usec=...
		name, rest, ok := strings.Cut(line, ":calls=")
		name, stat := strings.CutPrefix(name, "cmdstat_")
		if !ok || !stat || name == "info" || strings.HasPrefix(name, "config") {
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		c, _ := strconv.Atoi(calls)
		cmds[name] += c
	}
	return cmds
}

// TestClusterRedisCalls counts the Redis commands a join and a signal cost
// the cluster, heartbeats aside.
func TestClusterRedisCalls(t *testing.T) {
	rs, nodes := newCluster(t, 2, crossbar.Config{})
	s := nodes[0].session()
	first := nodes[1].connect(s, crossbar.RolePublisher, "first") // the session is live on both nodes
	nodes[0].connect(s, crossbar.RolePublisher, "first on node 1")
	nextConnection(t, first, "first on node 1")
	stats := rs.Client()
	defer stats.Close()
	count := func(what string, n int, do func(i int)) float64 {
		if err := stats.ConfigResetStat(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for i := range n {
			do(i)
		}
		// Heartbeats: each node beats (a MULTI/ZADD/HSET/EXEC) and reads the
		// members (ZRANGE, HMGET) every second.
		beats := 2 * 6 * int(time.Since(start).Seconds()+2)
		per := float64(max(redisCalls(t, stats)-beats, 0)) / float64(n)
		t.Logf("%s: at most %.1f Redis commands each", what, per)
		return per
	}
	perJoin := count("a join on node 2", 20, func(i int) {
		nodes[1].connect(s, crossbar.RolePublisher, fmt.Sprint("joiner ", i))
		nextConnection(t, first, fmt.Sprint("joiner ", i))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	perSignal := count("a signal to all", 50, func(i int) {
		if err := first.Signal(ctx, "", "chat", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
		next(t, first, signaling.TypeSignal)
	})
	if perJoin > 4 || perSignal > 2 {
		t.Errorf("a join costs %.1f Redis commands and a signal %.1f, want at most 4 and 2", perJoin, perSignal)
	}
}

// clusterRigs starts n browser rigs, each a node of one cluster on a real
// redis-server.
func clusterRigs(t *testing.T, n int) []*jsRig {
	t.Helper()
	var rigs []*jsRig
	for _, r := range nodeRigs(t, n) {
		rigs = append(rigs, r.jsRig)
	}
	return rigs
}

// TestClusterChromium: three Chromium pages, each on its own node of one
// session, publish their cameras and each decodes both others' video and
// hears their audio, over the node links.
func TestClusterChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	rigs := clusterRigs(t, 3)
	s := rigs[0].session()
	var pages []*browsertest.Page
	for i, r := range rigs {
		p, _ := r.join(fmt.Sprint("page", i+1), nodeSession(t, r.srv, s), crossbar.RolePublisher)
		p.Eval(`subscribeAll()`, nil)
		publish(t, p, `{resolution: '320x240', frameRate: 15}`)
		pages = append(pages, p)
	}
	for i, p := range pages {
		p.WaitVideos(subscriberVideos, 2, mediaWait)
		browsertest.WaitDecodedVideo(t, p, fmt.Sprint("page", i+1), mediaWait)
		p.WaitInboundAudio(mediaWait)
	}
}

// TestClusterChromiumSimulcast: node 2 hears and watches a Chromium page's
// simulcast stream published on node 1. The host of node 2, where nobody
// subscribes yet, learns it is the active speaker. Then a page on node 2
// watches it: only the layer it wants crosses the link, the layers nobody
// on either node wants are paused at the publisher, and a change of its
// preferred resolution brings the other layer.
func TestClusterChromiumSimulcast(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	rigs := clusterRigs(t, 2)
	s := rigs[0].session()
	speakers := make(chan string, 16)
	nodeSession(t, rigs[1].srv, s).OnActiveSpeakerChanged(func(st *crossbar.Stream) {
		if st != nil {
			speakers <- st.ID()
		}
	})
	pub, _ := rigs[0].join("publisher", s, crossbar.RolePublisher)
	var state string
	pub.Eval(toneTrack, &state)
	if state != "running" {
		t.Fatalf("audio context %s", state)
	}
	stream := publish(t, pub, `{resolution: '1280x720', audioSource: tone}`)
	select {
	case id := <-speakers:
		if id != stream {
			t.Fatalf("node 2's active speaker is %s, want %s", id, stream)
		}
	case <-time.After(mediaWait):
		t.Fatal("node 2 found no active speaker")
	}
	st, err := s.Stream(stream)
	if err != nil {
		t.Fatal(err)
	}
	waitLayers(t, pub, st, "three layers", func(l []sfu.LayerInfo) bool { return len(l) == 3 })

	viewer, _ := rigs[1].join("viewer", nodeSession(t, rigs[1].srv, s), crossbar.RoleSubscriber)
	viewer.Eval(`subscribeAll({preferredResolution: {width: 320, height: 180}})`, nil)
	viewer.WaitVideos(subscriberVideos, 1, mediaWait)
	viewer.Wait("320x180 frames", `OT.subscribers.find().videoWidth() === 320`, mediaWait)
	const encodings = `P.transceivers.find((x) => x.sender.track.kind === 'video').sender.getParameters().encodings.map((e) => e.active).join()`
	pub.Wait("layers h and f paused", encodings+` === 'true,false,false'`, mediaWait)

	start := time.Now()
	viewer.Eval(`OT.subscribers.find().setPreferredResolution({width: 1280, height: 720})`, nil)
	// The demand crosses the link and node 1 tells the publisher; on a
	// machine loaded by the race detector and two browsers that took over
	// 20 s once.
	pub.Wait("layer f resumed", encodings+` === 'true,false,true'`, 2*mediaWait)
	// As in TestJSSimulcastLayersPerSubscriber: a resumed layer is sent once
	// the publisher's bandwidth estimate allows.
	waitLayersFor(t, 2*mediaWait, pub, st, "layer f sent", func(l []sfu.LayerInfo) bool { return l[2].Active })
	viewer.Wait("1280x720 frames", `OT.subscribers.find().videoWidth() === 1280`, 2*mediaWait)
	t.Logf("node 2's viewer switched to 1280x720 in %v", time.Since(start).Round(time.Millisecond))
	browsertest.WaitDecodedVideo(t, viewer, "viewer", mediaWait)
}

// nodeSession returns srv's Session object of the session s.
func nodeSession(t *testing.T, srv *crossbar.Server, s *crossbar.Session) *crossbar.Session {
	t.Helper()
	x, err := srv.Session(context.Background(), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestClusterRelayed: in a relayed session, clients on node 2 subscribe to
// a Go client publishing on node 1. The negotiation crosses the nodes and
// the media goes peer to peer; every node counts every subscription
// towards the session's limit.
func TestClusterRelayed(t *testing.T) {
	_, nodes := newCluster(t, 2, crossbar.Config{MaxSubscriptionsPerSession: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := nodes[0].srv.CreateSession(ctx, crossbar.SessionOptions{MediaMode: crossbar.Relayed})
	if err != nil {
		t.Fatal(err)
	}
	alice := nodes[0].connect(s, crossbar.RolePublisher, "alice")
	dave := nodes[0].connect(s, crossbar.RoleSubscriber, "dave")
	id := synthesize(t, alice, "camera").StreamID()
	subs := map[string]*client.Subscriber{}
	for _, name := range []string{"bob", "carol"} {
		c := nodes[1].connect(s, crossbar.RoleSubscriber, name)
		for next(t, c, signaling.TypeStreamCreated).Stream.ID != id {
		}
		sub, err := c.Subscribe(ctx, id, client.SubscribeOptions{Audio: true, Video: true})
		if err != nil {
			t.Fatalf("%s on node 2 subscribing to node 1's relayed stream: %v", name, err)
		}
		subs[name] = sub
		readAV(ctx, t, name, sub, 25)
	}
	if st := s.Streams(); len(st) != 1 || st[0].Publisher() != nil {
		t.Fatalf("node 1 has media of the relayed stream: %v", st)
	}
	subscribers := func() int {
		st, err := s.Stream(id)
		if err != nil {
			t.Fatal(err)
		}
		return len(st.Subscribers())
	}
	if n := subscribers(); n != 2 {
		t.Errorf("node 1 lists %d subscribers of its stream, want node 2's two", n)
	}

	// Node 1 counts node 2's subscriptions: dave is over the limit, until
	// bob unsubscribes.
	_, err = dave.Subscribe(ctx, id, client.SubscribeOptions{Audio: true})
	if se := (*signaling.Error)(nil); !errors.As(err, &se) || se.Code != 1605 {
		t.Fatalf("a third subscription: %v, want the limit's 1605", err)
	}
	if err := subs["bob"].Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "node 1 to see bob's subscription end", func() bool { return subscribers() == 1 })
	sub, err := dave.Subscribe(ctx, id, client.SubscribeOptions{Audio: true})
	if err != nil {
		t.Fatalf("dave subscribing once bob left: %v", err)
	}
	if _, _, err := sub.ReadRTP(ctx); err != nil {
		t.Fatalf("dave: %v", err)
	}
}

// TestClusterCommonCodec: in a CommonCodec session, the codec chosen is
// one the clients of every node decode.
func TestClusterCommonCodec(t *testing.T) {
	_, nodes := newCluster(t, 2, crossbar.Config{})
	s, err := nodes[0].srv.CreateSession(context.Background(), crossbar.SessionOptions{VideoCodec: crossbar.CommonCodec})
	if err != nil {
		t.Fatal(err)
	}
	// join connects a raw client that decodes codecs to node n, and
	// returns the codec it is told publishers send.
	join := func(n *node, codecs ...string) string {
		ws := dialRaw(t, n.ws)
		send(t, ws, &signaling.Message{Type: signaling.TypeConnect, ID: 1, Token: n.token(s, crossbar.RolePublisher, ""), VideoCodecs: codecs})
		m := read(t, ws)
		if m.Type != signaling.TypeConnected {
			t.Fatalf("connect: %+v", m)
		}
		return m.VideoCodec
	}
	if got := join(nodes[0], "H264", "VP8"); got != "H264" {
		t.Fatalf("with one client decoding H.264, the codec is %q", got)
	}
	join(nodes[1], "VP8")
	waitFor(t, 5*time.Second, "node 1 to count node 2's client", func() bool { return len(s.Connections()) == 2 })
	if got := join(nodes[0], "H264", "VP8"); got != "VP8" {
		t.Fatalf("with a client on node 2 decoding VP8 alone, node 1 chose %q", got)
	}
}

// TestClusterResumeIsLocal: a connection another node serves cannot be
// resumed here, even with its own token and no key (mirrors have none).
func TestClusterResumeIsLocal(t *testing.T) {
	_, nodes := newCluster(t, 2, crossbar.Config{})
	s := nodes[0].session()
	tok := nodes[1].token(s, crossbar.RolePublisher, "bob")
	ws := dialRaw(t, nodes[1].ws)
	send(t, ws, &signaling.Message{Type: signaling.TypeConnect, ID: 1, Token: tok})
	m := read(t, ws)
	if m.Type != signaling.TypeConnected {
		t.Fatalf("connect: %+v", m)
	}
	id := m.Connection.ID
	waitFor(t, 5*time.Second, "node 1 to mirror bob", func() bool { _, err := s.Connection(id); return err == nil })
	for _, key := range []string{"", "guess"} {
		thief := dialRaw(t, nodes[0].ws)
		send(t, thief, &signaling.Message{Type: signaling.TypeConnect, ID: 1, Token: tok, Resume: &signaling.Resume{ConnectionID: id, Key: key}})
		if m := read(t, thief); m.Type != signaling.TypeError {
			t.Fatalf("resuming node 2's connection on node 1 with key %q: %+v", key, m)
		}
	}
}

// TestSessionOutlivesARestart: with a Store that outlives the process (here
// the Redis of a cluster of one), a session outlives its server: after a
// restart, its id, options and tokens work. Its connections do not: their
// clients are told, and connect again.
func TestSessionOutlivesARestart(t *testing.T) {
	rs := redistest.Start(t)
	start := func(node string) *harness {
		rdb := rs.Client()
		bus, err := cluster.NewRedis(context.Background(), cluster.RedisOptions{Client: rdb, Node: cluster.Node{ID: node}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = bus.Close()
			_ = rdb.Close()
		})
		return newHarness(t, crossbar.Config{Cluster: bus})
	}
	before := start("before")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := before.srv.CreateSession(ctx, crossbar.SessionOptions{Metadata: map[string]string{"room": "kitchen"}})
	if err != nil {
		t.Fatal(err)
	}
	tok := before.token(s, crossbar.RolePublisher, "alice")
	alice, err := client.Connect(ctx, before.ws, tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Disconnect()
	if err := before.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, alice, signaling.TypeSessionDisconnected); ev.Reason != string(crossbar.ReasonNetworkDisconnected) {
		t.Fatalf("alice's session ended with %q", ev.Reason)
	}

	after := start("after")
	again, err := client.Connect(ctx, after.ws, tok, nil)
	if err != nil {
		t.Fatalf("alice's token after the restart: %v", err)
	}
	defer again.Disconnect()
	if again.Connection().ID == alice.Connection().ID {
		t.Error("the connection id survived the restart")
	}
	s2, err := after.srv.Session(ctx, s.ID())
	if err != nil {
		t.Fatal(err)
	}
	if !s2.CreationTime().Equal(s.CreationTime()) || s2.Metadata()["room"] != "kitchen" {
		t.Errorf("after the restart the session was created %v with %v, before %v with %v", s2.CreationTime(), s2.Metadata(), s.CreationTime(), s.Metadata())
	}
}

// TestClusterStaleStream: a subscription to a stream another node no
// longer has (its end not yet heard here) fails at once, not after the
// link's import timeout.
func TestClusterStaleStream(t *testing.T) {
	_, nodes, s, alice, bob := aliceAndBob(t)
	// Node 1 announces a stream of alice's that it has no track of, as a
	// stream that ended before node 2 heard of it.
	ghost := fmt.Sprintf(`{"v":1,"from":"node1","kind":"streamCreated","stream":{"id":"ghost","connectionId":%q,"created":%d,"name":"ghost","hasAudio":true,"hasVideo":false,"tracks":["audio"]}}`,
		alice.Connection().ID, time.Now().UnixMilli())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := nodes[0].rdb.Publish(ctx, "crossbar:session:"+s.ID(), ghost).Err(); err != nil {
		t.Fatal(err)
	}
	for next(t, bob, signaling.TypeStreamCreated).Stream.ID != "ghost" {
	}
	start := time.Now()
	_, err := bob.Subscribe(ctx, "ghost", client.SubscribeOptions{Audio: true})
	if se := (*signaling.Error)(nil); !errors.As(err, &se) || se.Code != 1535 {
		t.Fatalf("subscribing to the ghost stream: %v, want stream not found", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the subscription failed after %v", took)
	}
}

// TestClusterNodeBackFromTheDead: a node whose heartbeats stall long enough
// to be taken for dead (its link to Redis frozen, the process alive, as
// under CPU starvation) has its connections wait on the others for their
// clients to move. When its heartbeats resume, the others ask it for its
// inventory, which ends the wait: nobody saw its connections leave, even
// after the grace period, and the session works across nodes again.
func TestClusterNodeBackFromTheDead(t *testing.T) {
	const grace = 10 * time.Second
	rs := redistest.Start(t)
	px, via := newProxy(t, "redis://"+rs.Addr)
	var nodes []*harness
	for i, addr := range []string{rs.Addr, strings.TrimPrefix(via, "redis://")} {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		bus, err := cluster.NewRedis(context.Background(), cluster.RedisOptions{Client: rdb, Node: cluster.Node{ID: fmt.Sprintf("node%d", i+1)}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = bus.Close()
			_ = rdb.Close()
		})
		nodes = append(nodes, newHarness(t, crossbar.Config{Cluster: bus, ReconnectGrace: grace}))
	}
	s := nodes[0].session()
	alice := nodes[0].connect(s, crossbar.RolePublisher, "alice")
	bob := nodes[1].connect(s, crossbar.RolePublisher, "bob")
	nextConnection(t, alice, "bob")

	// Past the node timeout (3 s) bob's node is taken for dead: bob waits
	// for his client to move, and stays when his node is back.
	px.freeze()
	none(t, alice, 4500*time.Millisecond, signaling.TypeConnectionDestroyed)
	px.thaw()
	none(t, alice, grace+time.Second, signaling.TypeConnectionDestroyed)
	if got := len(s.Connections()); got != 2 {
		t.Errorf("node 1 lists %d connections, want alice and bob", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waitFor(t, 10*time.Second, "a signal from bob to alice", func() bool {
		return bob.Signal(ctx, alice.Connection().ID, "t", "back") == nil
	})
	if ev := next(t, alice, signaling.TypeSignal); ev.Signal.Data != "back" {
		t.Fatalf("alice got %+v", ev.Signal)
	}
}

// TestClusterRevocationsRunOut: a cluster's revocations are records on the
// bus; one that has run out is forgotten when the next comes, so the set
// does not grow for ever.
func TestClusterRevocationsRunOut(t *testing.T) {
	rs := redistest.Start(t)
	bus, _ := nodeBus(t, rs, 1)
	clock := crossbartest.NewClock(time.Now())
	h := newHarness(t, crossbar.Config{Cluster: bus, Clock: clock})
	ctx := context.Background()
	if err := h.srv.RevokeToken(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(crossbar.MaxTokenTTL + time.Second)
	if err := h.srv.RevokeToken(ctx, "new"); err != nil {
		t.Fatal(err)
	}
	set, err := bus.Records(ctx, "revoked")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := set["old"]; ok || len(set) != 1 {
		t.Errorf("revocations on the bus: %q, want only the new one", slices.Collect(maps.Keys(set)))
	}
}

// TestClusterDeadNodeWebhooks: when a node dies, one live node sends the
// webhooks of the end of its connections and their streams, reason
// networkDisconnected, once for the cluster.
func TestClusterDeadNodeWebhooks(t *testing.T) {
	rc := newReceiver(t, ok200)
	_, nodes := newCluster(t, 3, crossbar.Config{
		ReconnectGrace:    500 * time.Millisecond,
		SignalOnlyStreams: true,
		Webhook:           crossbar.WebhookConfig{URL: rc.url, Secret: hookSecret},
	})
	s := nodes[0].session()
	alice := nodes[0].connect(s, crossbar.RolePublisher, "alice")
	carol := nodes[2].connect(s, crossbar.RolePublisher, "carol")
	bob := nodes[1].connect(s, crossbar.RolePublisher, "bob")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pub, err := bob.Publish(ctx, client.PublishOptions{Name: "bob's", SignalOnly: true, Audio: true, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := pub.WaitCreated(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*client.Session{alice, carol} {
		nextConnection(t, cl, "bob")
		next(t, cl, signaling.TypeStreamCreated)
	}
	_ = nodes[1].rdb.Close() // node 2 dies
	for _, cl := range []*client.Session{alice, carol} {
		if ev := nextWithin(t, cl, 15*time.Second, signaling.TypeConnectionDestroyed); ev.Connection.ID != bob.Connection().ID {
			t.Fatalf("%s saw %+v leave, want bob", cl.Connection().Data, ev.Connection)
		}
	}
	// Each live node's queue delivers in order: once a later event of
	// each has come, a second report of bob's end would have come too.
	alice.Disconnect()
	carol.Disconnect()
	ended := func(got []delivery, event, id string) (n int) {
		for _, d := range got {
			if d.Event == event && (d.Connection != nil && d.Connection.ID == id || d.Stream != nil && d.Stream.ID == id) {
				n++
			}
		}
		return n
	}
	for n := 1; ; n++ {
		got := rc.wait(n)
		if ended(got, "connectionDestroyed", alice.Connection().ID)+ended(got, "connectionDestroyed", carol.Connection().ID) < 2 ||
			ended(got, "connectionDestroyed", bob.Connection().ID) == 0 {
			continue
		}
		if c, sd := ended(got, "connectionDestroyed", bob.Connection().ID), ended(got, "streamDestroyed", st.ID); c != 1 || sd != 1 {
			t.Fatalf("bob's end was reported %d times, his stream's %d times; want once each", c, sd)
		}
		for _, d := range got {
			if (d.Connection != nil && d.Connection.ID == bob.Connection().ID || d.Stream != nil && d.Stream.ID == st.ID) &&
				strings.HasSuffix(d.Event, "Destroyed") && d.Reason != string(crossbar.ReasonNetworkDisconnected) {
				t.Errorf("%s of bob's: reason %q, want networkDisconnected", d.Event, d.Reason)
			}
		}
		return
	}
}
