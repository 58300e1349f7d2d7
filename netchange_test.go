package crossbar_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/transport/v2"
	"github.com/pion/transport/v2/stdnet"
	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/internal/browsertest"
	"github.com/crossbar-rtc/crossbar/sfu"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// movingNet is a client's network that can change: the sockets opened
// before a move go dead, as those of an address a laptop left behind when
// it moved from Wi-Fi to a hotspot; those opened after work.
type movingNet struct {
	transport.Net
	moves atomic.Int64
}

func newMovingNet(t *testing.T) *movingNet {
	t.Helper()
	n, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	return &movingNet{Net: n}
}

// move changes the network: every socket open now goes dead.
func (n *movingNet) move() { n.moves.Add(1) }

// ListenUDP opens a socket that dies at the next move.
func (n *movingNet) ListenUDP(network string, addr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, addr)
	if err != nil {
		return nil, err
	}
	return &movingConn{UDPConn: c, n: n, gen: n.moves.Load()}, nil
}

type movingConn struct {
	transport.UDPConn
	n   *movingNet
	gen int64 // the moves before it was opened
}

func (c *movingConn) dead() bool { return c.n.moves.Load() != c.gen }

func (c *movingConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if c.dead() {
		return len(p), nil
	}
	return c.UDPConn.WriteTo(p, addr)
}

func (c *movingConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.UDPConn.ReadFrom(p)
		if err != nil || !c.dead() {
			return n, addr, err
		}
	}
}

// packetClock reads a subscription until the test ends and tells when the
// last packet of each kind came, and the longest gap between video packets.
type packetClock struct{ audio, video, gap atomic.Int64 }

func clock(t *testing.T, sub *client.Subscriber) *packetClock {
	var pc packetClock
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, kind, err := sub.ReadRTP(ctx)
			if err != nil {
				return
			}
			now := time.Now().UnixNano()
			if kind == webrtc.RTPCodecTypeAudio {
				pc.audio.Store(now)
				continue
			}
			if last := pc.video.Swap(now); last != 0 && now-last > pc.gap.Load() {
				pc.gap.Store(now - last)
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return &pc
}

// longestGap returns the longest gap between video packets so far.
func (pc *packetClock) longestGap() time.Duration { return time.Duration(pc.gap.Load()) }

// since reports whether audio and video both came after t.
func (pc *packetClock) since(t time.Time) bool {
	return pc.audio.Load() > t.UnixNano() && pc.video.Load() > t.UnixNano()
}

// TestNetworkChangeKeepsStreams: a Go client publishing and subscribing
// changes networks: its media sockets go dead, and its signaling link is
// reset too or stays up (a path that broke for media alone). It resumes its
// signaling if it must and restarts ICE on both its peer connections: its
// stream and its subscription carry on with the same ids, and the other
// client sees nobody leave.
func TestNetworkChangeKeepsStreams(t *testing.T) {
	for _, tc := range []struct {
		name      string
		signaling bool // the signaling link is reset too
	}{{"signaling and media", true}, {"media only", false}} {
		t.Run(tc.name, func(t *testing.T) { testNetworkChange(t, tc.signaling) })
	}
}

func testNetworkChange(t *testing.T, resetSignaling bool) {
	h := newHarness(t, crossbar.Config{ReconnectGrace: 30 * time.Second})
	s := h.session()
	p, viaProxy := newProxy(t, h.ws)
	network := newMovingNet(t)
	mover := h.mediaClient(s, viaProxy, "mover", network, client.Options{})
	other := h.mediaClient(s, h.ws, "other", nil, client.Options{})
	movers, others := synthesize(t, mover, "mover"), synthesize(t, other, "other")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, pub := range []*client.Publisher{movers, others} {
		if _, err := pub.WaitCreated(ctx); err != nil {
			t.Fatal(err)
		}
	}
	subscribe := func(c *client.Session, id string) (*client.Subscriber, *packetClock) {
		sub, err := c.Subscribe(ctx, id, client.SubscribeOptions{Audio: true, Video: true})
		if err != nil {
			t.Fatal(err)
		}
		return sub, clock(t, sub)
	}
	moverSub, moverSees := subscribe(mover, others.StreamID())
	otherSub, otherSees := subscribe(other, movers.StreamID())
	start := time.Now()
	waitFor(t, 10*time.Second, "media both ways", func() bool { return moverSees.since(start) && otherSees.since(start) })

	network.move()
	moved := time.Now()
	if resetSignaling {
		p.cut()
		nextWithin(t, mover, 10*time.Second, client.TypeReconnected)
	} else {
		// The subscription tells its path was lost, and is back.
		for _, typ := range []signaling.Type{client.TypeSubscriberDisconnected, client.TypeSubscriberConnected} {
			if ev := nextWithin(t, mover, 10*time.Second, typ); ev.StreamID != others.StreamID() {
				t.Fatalf("%s for stream %q, want %s", typ, ev.StreamID, others.StreamID())
			}
		}
	}
	// Packets a second after the move came on the new network: the old
	// sockets are dead, and nothing on the way holds packets that long.
	after := moved.Add(time.Second)
	waitFor(t, 20*time.Second, "media both ways on the new network", func() bool { return otherSees.since(after) && moverSees.since(after) })
	t.Logf("%s: longest video gap %v for the mover's subscriber, %v for the mover",
		t.Name(), otherSees.longestGap().Round(time.Millisecond), moverSees.longestGap().Round(time.Millisecond))

	for _, x := range []interface{ Done() <-chan struct{} }{movers, moverSub, otherSub} {
		select {
		case <-x.Done():
			t.Fatalf("%T ended across the network change", x)
		default:
		}
	}
	if st, err := s.Stream(movers.StreamID()); err != nil || st.Connection().ID() != mover.Connection().ID {
		t.Fatalf("the mover's stream after the move: %v, %v", st, err)
	}
	// The other client saw nobody leave and no stream end.
	for {
		select {
		case ev := <-other.Events():
			if ev.Type == signaling.TypeConnectionDestroyed || ev.Type == signaling.TypeStreamDestroyed {
				t.Fatalf("the other client saw %s %+v %+v", ev.Type, ev.Connection, ev.Stream)
			}
			continue
		default:
		}
		break
	}
}

// pcWatch records, in a page, the peer connections the client makes.
const pcWatch = `(() => {
  window.pcs = [];
  window.iceStates = [];
  const Native = RTCPeerConnection;
  window.RTCPeerConnection = function (...args) {
    const pc = new Native(...args);
    pcs.push(pc);
    pc.addEventListener('iceconnectionstatechange', () => iceStates.push(pc.iceConnectionState));
    return pc;
  };
  window.ufrags = () => pcs.filter((pc) => pc.connectionState !== 'closed' && pc.localDescription)
    .map((pc) => pc.localDescription.sdp.match(/a=ice-ufrag:(\S+)/)[1]).join();
})()`

// TestJSResumeRestartsICE: a page whose signaling link is cut resumes it
// and restarts ICE on its publisher and subscriber PCs, as after a network
// change; its stream and subscription carry on with the same ids, and the
// other page sees nobody leave.
func TestJSResumeRestartsICE(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	r := newJSRigConfig(t, crossbar.Config{ReconnectGrace: 30 * time.Second, Media: sfu.Config{LoopbackOnly: true}})
	s := r.session()
	px, mover, _ := joinViaProxy(t, r, s, "mover")
	checkResumeRestartsICE(t, r, s, px, mover)
}

// checkResumeRestartsICE has mover, a page joined to s through px, and a
// Chromium page publish and subscribe to each other, then cuts px and
// checks that the mover restarts ICE and the media carries on.
func checkResumeRestartsICE(t *testing.T, r *jsRig, s *crossbar.Session, px *proxy, mover tab) {
	t.Helper()
	mover.Eval(pcWatch, nil)
	other, _ := r.join("other", s, crossbar.RolePublisher)
	pages := []tab{mover, other}
	var ids []string
	for _, p := range pages {
		p.Eval(`subscribeAll()`, nil)
		ids = append(ids, publish(t, p, `{resolution: '320x240', frameRate: 15}`))
	}
	for i, p := range pages {
		browsertest.WaitDecodedVideo(t, p, fmt.Sprint("page ", i+1, " before"), mediaWait)
	}
	var before string
	mover.Eval(`ufrags()`, &before)
	if strings.Count(before, ",") != 1 {
		t.Fatalf("the mover's peer connections have ufrags %q, want two", before)
	}

	px.cut()
	start := time.Now()
	browsertest.Wait(t, mover, "mover", "sessionReconnected", `types().includes('sessionReconnected')`, 15*time.Second)
	browsertest.Wait(t, mover, "mover", "new ICE credentials on both peer connections",
		fmt.Sprintf(`ufrags().split(',').every((u) => !%q.split(',').includes(u))`, before), mediaWait)
	for i, p := range pages {
		browsertest.WaitDecodedVideo(t, p, fmt.Sprint("page ", i+1, " after"), mediaWait)
	}
	t.Logf("page resumed, ICE restarted and video decoded again %v after the cut", time.Since(start).Round(10*time.Millisecond))
	checkNobodyLeft(t, mover, other, ids[0])
}

// checkNobodyLeft checks that the mover, a page that restarted ICE, still
// publishes stream id, and that the other page saw no connection or stream
// end.
func checkNobodyLeft(t *testing.T, mover, other tab, id string) {
	t.Helper()
	var streamID string
	mover.Eval(`P.stream.streamId`, &streamID)
	if streamID != id {
		t.Errorf("the mover's stream is %s after the restart, was %s", streamID, id)
	}
	var seen []string
	other.Eval(`types()`, &seen)
	if slices.Contains(seen, "connectionDestroyed") || slices.Contains(seen, "streamDestroyed") {
		t.Errorf("the other page saw %v", seen)
	}
}

// answerEater is a signaling link that loses the first subscriber answer
// written on it, with the link itself, as a link that breaks while the
// answer is on its way does.
type answerEater struct {
	*signaling.WebSocket
	ate *atomic.Bool // shared by the links of one client: one answer eaten
}

func (a answerEater) WriteMessage(ctx context.Context, b []byte) error {
	if strings.Contains(string(b), `"type":"answer"`) && a.ate.CompareAndSwap(false, true) {
		return a.CloseNow()
	}
	return a.WebSocket.WriteMessage(ctx, b)
}

// TestLostAnswerIsSentAgain: a subscriber answer lost with its signaling
// link goes again once the link is resumed, and the subscription's media
// flows; without it the server would wait for the answer forever.
func TestLostAnswerIsSentAgain(t *testing.T) {
	h := newHarness(t, crossbar.Config{ReconnectGrace: 30 * time.Second})
	s := h.session()
	pub := synthesize(t, h.mediaClient(s, h.ws, "publisher", nil, client.Options{}), "camera")
	var ate atomic.Bool
	dial := func(ctx context.Context) (signaling.Transport, error) {
		ws, err := signaling.DialWebSocket(ctx, h.ws, nil)
		if err != nil {
			return nil, err
		}
		return answerEater{ws, &ate}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	viewer, err := client.ConnectTransport(ctx, dial, h.token(s, crossbar.RoleSubscriber, "viewer"), &client.Options{Media: client.MediaOptions{LoopbackOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer viewer.Disconnect()
	if _, err := pub.WaitCreated(ctx); err != nil {
		t.Fatal(err)
	}
	sub, err := viewer.Subscribe(ctx, pub.StreamID(), client.SubscribeOptions{Audio: true, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	nextWithin(t, viewer, 10*time.Second, client.TypeReconnected)
	if !ate.Load() {
		t.Fatal("no answer was lost")
	}
	sees := clock(t, sub)
	start := time.Now()
	waitFor(t, 15*time.Second, "media of the subscription whose answer was lost", func() bool { return sees.since(start) })
}

// selectedPaths gives, in a page that ran pcWatch, the local address of
// the candidate pairs its peer connections use now.
const selectedPaths = `Promise.all(pcs.filter((pc) => pc.connectionState !== 'closed').map(async (pc) => {
  const stats = await pc.getStats();
  let path = {};
  stats.forEach((r) => {
    if (r.type === 'transport' && r.selectedCandidatePairId) {
      const pair = stats.get(r.selectedCandidatePairId);
      path = {local: stats.get(pair.localCandidateId).address};
    }
  });
  return path;
}))`

// mediaPath is an entry of selectedPaths.
type mediaPath struct {
	Local string `json:"local"`
}

// moreAddresses gives the network namespace the test runs in (.ci/netns)
// four more addresses, 198.51.100.1 to .4, for a browser to move between,
// on two veth pairs, until the test ends. It returns the interface of
// each.
func moreAddresses(t *testing.T) map[string]string {
	t.Helper()
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	devs := map[string]string{}
	for i := 0; i < 4; i += 2 {
		a, b := fmt.Sprint("crossbar", i), fmt.Sprint("crossbar", i+1)
		ip("link", "add", a, "type", "veth", "peer", "name", b)
		t.Cleanup(func() { _ = exec.Command("ip", "link", "delete", a).Run() })
		for j, dev := range []string{a, b} {
			addr := fmt.Sprintf("198.51.100.%d", i+j+1)
			ip("addr", "add", addr+"/24", "dev", dev)
			ip("link", "set", dev, "up")
			devs[addr] = dev
		}
	}
	return devs
}

// TestJSMediaPathLossRestartsICE: the network of a browser changes under
// its media while its signaling stays up, as a laptop's moving from Wi-Fi
// to a hotspot does: the addresses the mover page's peer connections use
// are taken from their interfaces, for every page of the browser. The
// server, which hears nothing from them, tells the pages before Chromium
// notices: the mover's subscriber fires disconnected, the pages restart
// ICE and go on from other addresses, the subscriber fires connected and
// video decodes again on both pages, with the same ids. It runs in a
// network namespace of its own (.ci/netns), given four addresses to move
// between (moreAddresses); the server's media is on the namespace's
// 192.0.2.1, and an nftables rule keeps the browser's media off
// 127.0.0.1, which cannot be taken away.
func TestJSMediaPathLossRestartsICE(t *testing.T) {
	if os.Getenv("CROSSBAR_NETNS") == "" {
		t.Skip("cuts paths with nftables inside a network namespace of its own: .ci/netns go test -run MediaPath ./...")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft is not installed (apt-get install nftables)")
	}
	devs := moreAddresses(t)
	nft := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("nft", args...).CombinedOutput(); err != nil {
			t.Fatalf("nft %v: %v: %s", args, err, out)
		}
	}
	nft("add", "table", "inet", "crossbar_test")
	t.Cleanup(func() { _ = exec.Command("nft", "delete", "table", "inet", "crossbar_test").Run() })
	nft("add", "chain", "inet", "crossbar_test", "out", "{ type filter hook output priority 0; }")
	nft("add", "rule", "inet", "crossbar_test", "out", "ip", "saddr", "127.0.0.1", "ip", "daddr", "192.0.2.1", "meta", "l4proto", "udp", "drop")
	r := newJSRigConfig(t, crossbar.Config{ReconnectGrace: 30 * time.Second, Media: sfu.Config{UDPAddr: "192.0.2.1:0"}})
	s := r.session()
	mover, _ := r.join("mover", s, crossbar.RolePublisher)
	other, _ := r.join("other", s, crossbar.RolePublisher)
	pages := []*browsertest.Page{mover, other}
	for _, p := range pages {
		p.Eval(pcWatch, nil)
	}
	var ids []string
	for _, p := range pages {
		p.Eval(`subscribeAll()`, nil)
		ids = append(ids, publish(t, p, `{resolution: '320x240', frameRate: 15}`))
	}
	for _, p := range pages {
		p.WaitVideos(subscriberVideos, 1, mediaWait)
		browsertest.WaitDecodedVideo(t, p, "before", mediaWait)
	}
	mover.Eval(`OT.subscribers.map((sub) => {
  sub.on('disconnected', () => log.push({type: 'subscriber:disconnected'}));
  sub.on('connected', () => log.push({type: 'subscriber:connected'}));
  return 0;
})`, nil)
	paths := func(p *browsertest.Page) []mediaPath {
		var list []mediaPath
		p.Eval(selectedPaths, &list)
		return list
	}
	before := [][]mediaPath{paths(mover), paths(other)}
	var olds []string
	for _, p := range before[0] {
		if devs[p.Local] == "" {
			t.Fatalf("the mover's peer connections use %+v, want addresses of %v", before[0], devs)
		}
		if !slices.Contains(olds, p.Local) {
			olds = append(olds, p.Local)
		}
	}
	for _, a := range olds {
		if out, err := exec.Command("ip", "addr", "del", a+"/24", "dev", devs[a]).CombinedOutput(); err != nil {
			t.Fatalf("ip addr del %s: %v: %s", a, err, out)
		}
	}
	cut := time.Now()
	mover.Wait("subscriber disconnected", `types().includes('subscriber:disconnected')`, 20*time.Second)
	t.Logf("subscriber disconnected %v after the addresses were taken", time.Since(cut).Round(10*time.Millisecond))
	// The server told it (pathLost): Chromium itself takes 5-8 s.
	var states []string
	mover.Eval(`iceStates`, &states)
	if slices.Contains(states, "disconnected") {
		t.Errorf("the mover's peer connections went %v before the page restarted ICE: the server did not tell it its path was lost", states)
	}
	mover.Wait("subscriber connected again", `types().includes('subscriber:connected')`, 20*time.Second)
	for _, p := range pages {
		browsertest.WaitDecodedVideo(t, p, "after", mediaWait)
	}
	t.Logf("the addresses taken: video decoded again on both sides %v later", time.Since(cut).Round(10*time.Millisecond))
	onOld := func(p mediaPath) bool { return slices.Contains(olds, p.Local) }
	for i, p := range pages {
		now := paths(p)
		t.Logf("page %d's peer connections went from %+v to %+v", i+1, before[i], now)
		if slices.ContainsFunc(before[i], onOld) && (len(now) != 2 || slices.ContainsFunc(now, onOld)) {
			t.Errorf("page %d's peer connections use %+v after the change, were on %+v", i+1, now, before[i])
		}
	}
	checkNobodyLeft(t, mover, other, ids[0])
}
