package crossbar_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/cluster"
	"github.com/crossbar-rtc/crossbar/internal/browsertest"
	"github.com/crossbar-rtc/crossbar/internal/firefoxtest"
	"github.com/crossbar-rtc/crossbar/internal/redistest"
	"github.com/crossbar-rtc/crossbar/sfu"
)

// nodeRig is a browser rig that is a node of a cluster, and its Redis
// client: closing it cuts the node off the others at once, as a crash does.
type nodeRig struct {
	*jsRig
	rdb *redis.Client
}

// nodeRigs starts n browser rigs, each a node of one cluster on a real
// redis-server.
func nodeRigs(t *testing.T, n int) []nodeRig {
	t.Helper()
	rs := redistest.Start(t)
	var rigs []nodeRig
	for i := range n {
		bus, rdb := nodeBus(t, rs, i+1)
		cfg := crossbar.Config{Cluster: bus, Media: sfu.Config{LoopbackOnly: true}, Logger: debugLogger(fmt.Sprintf("node%d", i+1))}
		rigs = append(rigs, nodeRig{newJSRigConfig(t, cfg), rdb})
	}
	return rigs
}

// nodeBus returns the cluster bus of node n ("node<n>") on rs, and its
// Redis client; the test's end closes both, after the server that uses
// them (whose cleanup, registered later, runs first).
func nodeBus(t *testing.T, rs *redistest.Server, n int) (*cluster.Redis, *redis.Client) {
	t.Helper()
	rdb := rs.Client()
	bus, err := cluster.NewRedis(context.Background(), cluster.RedisOptions{Client: rdb, Node: cluster.Node{ID: fmt.Sprintf("node%d", n)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = bus.Close()
		_ = rdb.Close()
	})
	return bus, rdb
}

// switchTo sends the links the proxy accepts from now on to addr
// (host:port), as a balancer that takes a node out of rotation does.
func (p *proxy) switchTo(addr string) { p.to.Store(&addr) }

// moveWatch records, in a test page that publishes and subscribes to one
// stream, what a move must keep: the Subscriber and its video element,
// the publisher's track, and no subscriber "destroyed" or publisher
// "streamDestroyed". frameCount counts the frames decoded of what the
// subscriber plays (framesDecoded in the statistics of the receivers of its
// element's MediaStream, which start again from 0 when it plays a new one;
// headless Firefox's elements count no frames), sampled every 20 ms: total
// since the last reset, and gap, the longest time in ms without a new one.
const moveWatch = `(() => {
  window.sub0 = OT.subscribers.find();
  window.video0 = sub0.element.querySelector('video');
  window.track0 = P.getVideoSource().track;
  sub0.on('destroyed', () => log.push({ type: 'subscriberDestroyed' }));
  P.on('streamDestroyed', () => log.push({ type: 'publisherStreamDestroyed' }));
  const f = window.frameCount = { total: 0, gap: 0, last: 0, at: performance.now() };
  const decoded = async () => {
    let n = 0;
    (await sub0.getRtcStatsReport()).forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') n += r.framesDecoded || 0; });
    return n;
  };
  decoded().then((n) => (f.last = n));
  let busy = false;
  setInterval(async () => {
    if (busy) return;
    busy = true;
    const n = await decoded().finally(() => (busy = false));
    const added = n >= f.last ? n - f.last : n;
    f.last = n;
    if (!added) return;
    const now = performance.now();
    f.total += added;
    f.gap = Math.max(f.gap, now - f.at);
    f.at = now;
  }, 20);
  // timeline notes, in ms since the move, what the peer connections do.
  window.timeline = [];
  const note = (pc) => pc.addEventListener('connectionstatechange', () =>
    timeline.push(pcs.indexOf(pc) + ':' + pc.connectionState + '@' + Math.round(performance.now() - window.moveStart)));
  pcs.forEach(note);
  const Wrapped = RTCPeerConnection;
  window.RTCPeerConnection = function (...args) {
    const pc = new Wrapped(...args);
    note(pc);
    return pc;
  };
  // links notes what each new signaling link does: its first message, and
  // its close.
  window.links = [];
  const WS = WebSocket;
  window.WebSocket = function (...args) {
    const ws = new WS(...args);
    const at = () => Math.round(performance.now() - window.moveStart);
    const i = links.push('opened@' + at()) - 1;
    ws.addEventListener('message', (e) => links[i] += ' ' + JSON.parse(e.data).type + '@' + at(), { once: true });
    ws.addEventListener('close', (e) => links[i] += ' closed:' + e.code + '@' + at());
    return ws;
  };
  window.WebSocket.OPEN = WS.OPEN;
})()`

// signalBurst defines, in a test page, burst(n, ms), which starts sending
// n signals of type "around", one every ms, whose outcome sent records;
// bursts resolves once they all have one.
const signalBurst = `(() => {
  window.sent = {};
  window.bursts = Promise.resolve();
  window.burst = (n, ms) => {
    bursts = (async () => {
      const all = [];
      for (let i = 0; i < n; i++, await new Promise((r) => setTimeout(r, ms))) {
        const data = S.connection.connectionId + '/' + i;
        all.push(S.signal({ type: 'around', data }).then(() => (sent[data] = 'ok'), () => (sent[data] = 'failed')));
      }
      await Promise.all(all);
    })();
  };
})()`

// moved is true in a page that ran pcWatch and moveWatch when the client
// has made new peer connections after a move, they are connected and the
// old ones closed.
const moved = `pcs.length === 4 && pcs.slice(0, 2).every((pc) => pc.connectionState === 'closed') &&
  pcs.slice(2).every((pc) => pc.connectionState === 'connected')`

// moveState is what must not change in a page when it moves.
const moveState = `({
  own: S.connection.connectionId,
  stream: P.stream && P.stream.streamId,
  connections: S.connections.map((c) => c.connectionId).sort(),
  streams: S.streams.map((s) => s.streamId).sort(),
  same: OT.subscribers.length === 1 && OT.subscribers.find() === sub0 && sub0.element.querySelector('video') === video0 &&
    document.contains(video0) && P.getVideoSource().track === track0 && track0.readyState === 'live',
})`

// TestJSMovesToAnotherNode: two Chromium pages on node 1 of a cluster,
// through a balancer, publish and subscribe to each other; then their
// connections move to node 2. Both keep their connection and stream ids
// and their Subscriber and video elements, nobody sees anything end,
// their new peer connections with node 2 carry the video, and the signals
// sent around the move arrive once each.
func TestJSMovesToAnotherNode(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	// The balancer sends new links to node 2 and drops those to node 1,
	// which lives on and forwards until the pages close their old PCs.
	t.Run("balancer", func(t *testing.T) { checkMove(t, moveCase{move: toNode2}) })
	// In a relayed session only the signaling moves: the pages' peer
	// connections are with each other, and carry on.
	t.Run("relayed", func(t *testing.T) { checkMove(t, moveCase{relayed: true, move: toNode2}) })
	// Node 1 dies as with kill -9: its links reset, its goodbyes go
	// nowhere, its media stops.
	t.Run("crash", func(t *testing.T) {
		checkMove(t, moveCase{move: func(rigs []nodeRig, pxs []*proxy) {
			_ = rigs[0].rdb.Close()
			toNode2(rigs, pxs)
			_ = rigs[0].srv.Close()
		}})
	})
	// Node 1 drains for a deploy.
	t.Run("drain", func(t *testing.T) { checkMove(t, moveCase{quiet: true, move: drainNode1(t)}) })
}

// TestFirefoxMovesToAnotherNode is TestJSMovesToAnotherNode with page a in
// Firefox, moved by the balancer and by a drain.
func TestFirefoxMovesToAnotherNode(t *testing.T) {
	ff := firefoxtest.New(t)
	t.Run("balancer", func(t *testing.T) { checkMove(t, moveCase{firefox: ff, move: toNode2}) })
	t.Run("drain", func(t *testing.T) { checkMove(t, moveCase{firefox: ff, quiet: true, move: drainNode1(t)}) })
}

// drainNode1 returns a move of checkMove's: node 1 drains for a deploy. It
// asks the pages to move, and refuses them (HTTP 503) until the balancer
// takes it out of rotation.
func drainNode1(t *testing.T) func(rigs []nodeRig, pxs []*proxy) {
	return func(rigs []nodeRig, pxs []*proxy) {
		var links []int64
		for _, px := range pxs {
			links = append(links, px.links.Load())
		}
		drained := make(chan error, 1)
		go func() { drained <- rigs[0].srv.Shutdown(context.Background()) }()
		t.Cleanup(func() {
			if err := <-drained; err != nil {
				t.Errorf("node 1's shutdown: %v", err)
			}
		})
		waitFor(t, 10*time.Second, "the pages to be refused by node 1 and try again", func() bool {
			return pxs[0].links.Load() >= links[0]+2 && pxs[1].links.Load() >= links[1]+2
		})
		toNode2(rigs, pxs) // the cut drops links kept alive after a refusal
	}
}

// toNode2 has the proxies send new links to node 2 from now on, and drops
// their links to node 1: their pages resume on node 2.
func toNode2(rigs []nodeRig, pxs []*proxy) {
	for _, px := range pxs {
		px.switchTo(strings.TrimPrefix(rigs[1].url, "http://"))
		px.cut()
	}
}

// moverOnNode1 starts a cluster of two nodes, and has page a join a
// session on node 1 through a proxy, to move it later (toNode2).
func moverOnNode1(t *testing.T) ([]nodeRig, *crossbar.Session, *proxy, *browsertest.Page) {
	t.Helper()
	rigs := nodeRigs(t, 2)
	s := rigs[0].session()
	px, a, _ := joinViaProxy(t, rigs[0].jsRig, s, "a")
	return rigs, s, px, a
}

// moveCase is a way for the pages of checkMove to move to node 2.
type moveCase struct {
	quiet   bool                 // the server asks for it: the pages tell of no reconnection
	relayed bool                 // a relayed session
	firefox *firefoxtest.Browser // if set, page a is in this Firefox
	move    func(rigs []nodeRig, pxs []*proxy)
}

// movePage is a Chromium or a Firefox page.
type movePage interface {
	tab
	Wait(what, js string, timeout time.Duration)
}

// checkMove has two pages join a session on node 1 of a two-node cluster,
// each through a proxy, publish and subscribe to each other, and then
// moves them. It checks that the pages carry on on node 2 as the protocol
// says.
func checkMove(t *testing.T, mc moveCase) {
	t.Helper()
	rigs := nodeRigs(t, 2)
	s := rigs[0].session()
	rebuilt := moved
	if mc.relayed {
		s = rigs[0].relayedSession()
		rebuilt = `pcs.length === 2 && pcs.every((pc) => pc.connectionState === 'connected')`
	}
	// A client on node 2 has it follow the session before the move, as in
	// a session spread over nodes: node 2 keeps the signals, to replay
	// those a page missed.
	rigs[1].goClient(context.Background(), s, "watcher")
	names := []string{"a", "b"}
	var pages []movePage
	var pxs []*proxy
	for _, name := range names {
		var px *proxy
		var p movePage
		if mc.firefox != nil && name == "a" {
			var viaProxy string
			px, viaProxy = newProxy(t, rigs[0].url)
			p, _ = rigs[0].joinFirefox(mc.firefox, viaProxy+"/", name, s)
		} else {
			px, p, _ = joinViaProxy(t, rigs[0].jsRig, s, name)
		}
		p.Eval(`OT.setLogLevel(OT.WARN)`, nil)
		p.Eval(pcWatch, nil)
		if mc.relayed {
			p.Eval(loopbackOnly, nil)
		}
		p.Eval(`subscribeAll()`, nil)
		publish(t, p, `{resolution: '320x240', frameRate: 15}`)
		pages, pxs = append(pages, p), append(pxs, px)
	}
	type state struct {
		Own, Stream          string
		Connections, Streams []string
		Same                 bool
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for i, p := range pages {
			var st any
			if p.Try(`({state: S.currentState, events: types(), pcs: pcs.map((pc) => pc.connectionState + '/' + pc.signalingState), timeline, links: window.links})`, &st) == nil {
				t.Logf("page %s when the test failed: %v", names[i], st)
			}
		}
	})
	before := make([]state, len(pages))
	for i, p := range pages {
		browsertest.WaitDecodedVideo(t, p, names[i], mediaWait)
		p.Wait("both streams known", `S.streams.length === 2 && S.connections.length === 3`, mediaWait)
		p.Eval(moveWatch, nil)
		p.Eval(signalBurst, nil)
		p.Eval(moveState, &before[i])
	}
	// The signals go on through the move: 40 in 1 s, of which the first
	// 8 are sent before it.
	for _, p := range pages {
		p.Eval(`burst(40, 25)`, nil)
	}
	for _, p := range pages {
		p.Wait("8 signals sent", `Object.keys(sent).length >= 8`, 5*time.Second)
		p.Eval(`window.moveStart = performance.now()`, nil)
	}
	start := time.Now()
	mc.move(rigs, pxs)
	for _, p := range pages {
		if !mc.quiet {
			p.Wait("sessionReconnected", `types().includes('sessionReconnected')`, 15*time.Second)
		}
	}
	for _, p := range pages {
		p.Wait("the peer connections the move leaves", rebuilt, mediaWait)
	}
	took := time.Since(start)
	// From now on only the PCs the move left can bring frames.
	for _, p := range pages {
		p.Eval(`frameCount.total = 0`, nil)
	}
	for i, p := range pages {
		p.Wait("30 frames decoded after the move", `frameCount.total >= 30`, mediaWait)
		browsertest.WaitDecodedVideo(t, p, names[i], mediaWait)
	}
	for i, p := range pages {
		var gap float64
		p.Eval(`frameCount.gap`, &gap)
		var timeline []string
		p.Eval(`timeline`, &timeline)
		t.Logf("page %s: its peer connections ready %v after the move; longest video gap %.0f ms; PC states: %s",
			names[i], took.Round(time.Millisecond), gap, strings.Join(timeline, " "))
		var after state
		p.Eval(moveState, &after)
		if !after.Same {
			t.Errorf("page %s lost its subscriber, video element or camera track", names[i])
		}
		after.Same = before[i].Same
		if fmt.Sprint(after) != fmt.Sprint(before[i]) {
			t.Errorf("page %s before the move %+v, after %+v", names[i], before[i], after)
		}
		var seq []string
		p.Eval(`types().filter((t) => t.startsWith('session'))`, &seq)
		want := "sessionConnected sessionReconnecting sessionReconnected"
		if mc.quiet {
			want = "sessionConnected"
		}
		if strings.Join(seq, " ") != want {
			t.Errorf("page %s: session events %v, want %s", names[i], seq, want)
		}
		var seen []string
		p.Eval(`types()`, &seen)
		for _, bad := range []string{"connectionDestroyed", "streamDestroyed", "subscriberDestroyed", "publisherStreamDestroyed"} {
			if slices.Contains(seen, bad) {
				t.Errorf("page %s saw %s: %v", names[i], bad, seen)
			}
		}
	}
	checkSignalsOnce(t, names, pages)
}

// TestJSMovesToANodeWithoutTheSession: page a moves to node 2, where no
// client of the session is, while page b, which stays on node 1, signals.
// Page a must get each signal once, as when node 2 has a client of the
// session (TestJSMovesToAnotherNode).
func TestJSMovesToANodeWithoutTheSession(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	rigs, s, px, a := moverOnNode1(t)
	b, _ := rigs[0].join("b", s, crossbar.RolePublisher)
	pages := []movePage{a, b}
	for _, p := range pages {
		p.Wait("both pages", `S.connections.length === 2`, 5*time.Second)
		p.Eval(signalBurst, nil)
	}
	b.Eval(`burst(100, 10)`, nil)
	b.Wait("10 signals sent", `Object.keys(sent).length >= 10`, 5*time.Second)
	toNode2(rigs, []*proxy{px})
	a.Wait("sessionReconnected", `types().includes('sessionReconnected')`, 15*time.Second)
	checkSignalsOnce(t, []string{"a", "b"}, pages)
}

// TestJSSubscriberStaysWhileItsStreamMoves: page c, on node 2, watches
// page a's stream while page a moves from node 1 to node 2; once page a's
// old peer connection is closed, page c's video comes from the stream's
// new tracks.
func TestJSSubscriberStaysWhileItsStreamMoves(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	rigs, s, px, a := moverOnNode1(t)
	a.Eval(pcWatch, nil)
	publish(t, a, `{resolution: '320x240', frameRate: 15}`)
	c, _ := rigs[1].join("c", s, crossbar.RolePublisher)
	c.Eval(`subscribeAll()`, nil)
	c.WaitVideos(subscriberVideos, 1, mediaWait)
	toNode2(rigs, []*proxy{px})
	a.Wait("sessionReconnected", `types().includes('sessionReconnected')`, 15*time.Second)
	a.Wait("a new publisher PC, the old one closed", `pcs.length === 2 && pcs[0].connectionState === 'closed' && pcs[1].connectionState === 'connected'`, mediaWait)
	c.WaitVideos(subscriberVideos, 1, mediaWait)
}

// checkSignalsOnce checks that each signal the pages sent with burst
// arrived once on every page if it was sent, at most once if its sender
// was told it failed. A last signal from each page, sent after the others
// and after the move, marks the end.
func checkSignalsOnce(t *testing.T, names []string, pages []movePage) {
	t.Helper()
	for _, p := range pages {
		p.Eval(`bursts`, nil) // every burst signal has its outcome
		p.Eval(`S.signal({type: 'end'})`, nil)
	}
	sent := map[string]string{}
	for _, p := range pages {
		p.Wait("every page's last signal", fmt.Sprintf(`log.filter((e) => e.type === 'signal:end').length === %d`, len(pages)), 10*time.Second)
		var s map[string]string
		p.Eval(`sent`, &s)
		for k, v := range s {
			sent[k] = v
		}
	}
	failed := 0
	for i, p := range pages {
		var got []string
		p.Eval(`log.filter((e) => e.type === 'signal:around').map((e) => e.data)`, &got)
		count := map[string]int{}
		for _, d := range got {
			count[d]++
		}
		for d, outcome := range sent {
			if n := count[d]; n > 1 || (outcome == "ok" && n != 1) {
				t.Errorf("page %s received signal %s (%s) %d times", names[i], d, outcome, n)
			}
		}
	}
	for _, outcome := range sent {
		if outcome != "ok" {
			failed++
		}
	}
	t.Logf("%d signals sent around the move, %d of them failed to their senders", len(sent), failed)
}

// TestJSSubscriberStaysWhileItsStreamMovesTwice: page c, on node 1,
// watches two Go clients' streams while one is drained off node 2 to node
// 3, and node 3 then dies with both clients moving on to node 1, as in the
// cluster example's rolling deploy and crash. Page c's videos go on from
// each of the streams' new homes.
func TestJSSubscriberStaysWhileItsStreamMovesTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	rigs := nodeRigs(t, 3)
	s := rigs[0].session()
	ws := func(r nodeRig) string { return "ws" + strings.TrimPrefix(r.url, "http") + "/crossbar/ws" }
	px2, via2 := newProxy(t, ws(rigs[1]))
	px3, via3 := newProxy(t, ws(rigs[2]))
	b2, b3 := &balancer{urls: []string{via2}}, &balancer{urls: []string{via3}}
	for i, b := range []*balancer{b2, b3} {
		name := fmt.Sprint("mover", i+2)
		c, _, _ := balanced(t, b, rigs[0].srv, s, name)
		synthesize(t, c, name)
	}

	c, _ := rigs[0].join("c", s, crossbar.RolePublisher)
	c.Eval(`subscribeAll()`, nil)
	c.WaitVideos(subscriberVideos, 2, mediaWait)
	c.Eval(`(() => {
  window.decoded = [0, 0];
  setInterval(() => OT.subscribers.map(async (sub, i) => {
    let n = 0;
    (await sub.getRtcStatsReport()).forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') n += r.framesDecoded || 0; });
    decoded[i] = n;
  }), 50);
})()`, nil)
	framesAfter := func(what string) {
		t.Helper()
		var from []int
		c.Eval(`decoded`, &from)
		c.Wait(what, fmt.Sprintf(`decoded[0] >= %d && decoded[1] >= %d`, from[0]+30, from[1]+30), mediaWait)
	}
	framesAfter("frames from nodes 2 and 3")

	b2.replace(via2, via3)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := rigs[1].srv.Shutdown(ctx); err != nil {
		t.Fatalf("node 2's shutdown: %v", err)
	}
	px2.close()
	framesAfter("frames once a stream moved to node 3")

	b2.replace(via3, ws(rigs[0]))
	b3.replace(via3, ws(rigs[0]))
	_ = rigs[2].rdb.Close() // as kill -9 would
	px3.close()
	_ = rigs[2].srv.Close()
	framesAfter("frames once both streams moved to node 1")
}
