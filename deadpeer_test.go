package crossbar_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/transport/v2"
	"github.com/pion/transport/v2/stdnet"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/sfu"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// pingBound is how long the server and the Go client may take, with their
// default keep-alive, to notice a link that went dead without a goodbye.
const pingBound = signaling.DefaultPingInterval + signaling.DefaultPingTimeout

// blackhole is the network of a Go client's peer connections, which a test
// can take down: while down, its UDP sockets send nothing and drop all they
// receive, yet stay open, as a killed process or a lost network looks from
// the other end.
type blackhole struct {
	transport.Net
	down atomic.Bool
}

func newBlackhole(t *testing.T) *blackhole {
	t.Helper()
	n, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	return &blackhole{Net: n}
}

// ListenUDP opens a socket that the blackhole can silence.
func (b *blackhole) ListenUDP(network string, addr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := b.Net.ListenUDP(network, addr)
	if err != nil {
		return nil, err
	}
	return &blackholeConn{UDPConn: c, down: &b.down}, nil
}

type blackholeConn struct {
	transport.UDPConn
	down *atomic.Bool
}

func (c *blackholeConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if c.down.Load() {
		return len(p), nil
	}
	return c.UDPConn.WriteTo(p, addr)
}

func (c *blackholeConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.UDPConn.ReadFrom(p)
		if err != nil || !c.down.Load() {
			return n, addr, err
		}
	}
}

// mediaClient connects a Go client through url whose peer connections run
// on loopback, and on network unless it is nil. It disconnects when the
// test ends.
func (h *harness) mediaClient(s *crossbar.Session, url, data string, network transport.Net, opts client.Options) *client.Session {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	opts.Media = client.MediaOptions{LoopbackOnly: true, Net: network}
	c, err := client.Connect(ctx, url, h.token(s, crossbar.RolePublisher, data), &opts)
	if err != nil {
		h.t.Fatalf("connect %s: %v", data, err)
	}
	h.t.Cleanup(func() { c.Disconnect() })
	return c
}

// synthesize publishes a synthetic audio and video stream from c until the
// test ends.
func synthesize(t *testing.T, c *client.Session, name string) *client.Publisher {
	t.Helper()
	return synthesizeWith(t, c, client.PublishOptions{Name: name, Audio: true, Video: true})
}

// synthesizeWith publishes a synthetic stream from c, as opts say, until
// the test ends.
func synthesizeWith(t *testing.T, c *client.Session, opts client.PublishOptions) *client.Publisher {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub, err := c.Publish(ctx, opts)
	if err != nil {
		t.Fatalf("publish %s: %v", opts.Name, err)
	}
	synthCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pub.Synthesize(synthCtx, client.SynthOptions{}) }()
	t.Cleanup(func() {
		stop()
		<-done
	})
	return pub
}

// A client whose link goes half-open (nothing gets through, no close either)
// is noticed by the server's pings; after the grace period the others see
// it go with reason networkDisconnected.
func TestHalfOpenClientIsNoticed(t *testing.T) {
	const grace = 500 * time.Millisecond
	h := newHarness(t, crossbar.Config{ReconnectGrace: grace}) // default pings
	s := h.session()
	p, viaProxy := newProxy(t, h.ws)
	ctx := context.Background()
	// This client never pings nor reconnects: only the server can notice.
	half, err := client.Connect(ctx, viaProxy, h.token(s, crossbar.RolePublisher, "half"), &client.Options{PingInterval: -1, ReconnectFor: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer half.Disconnect()
	other := h.connect(s, crossbar.RolePublisher, "other")

	p.freeze()
	start := time.Now()
	ev := nextWithin(t, other, pingBound+grace+5*time.Second, signaling.TypeConnectionDestroyed)
	took := time.Since(start)
	if ev.Reason != "networkDisconnected" || ev.Connection.Data != "half" {
		t.Fatalf("other saw %+v", ev)
	}
	checkNoticed(t, "half-open Go client, by the server", took, grace)
}

// deadLinkBound is how soon a dead signaling link must be noticed.
const deadLinkBound = 10 * time.Second

// checkNoticed checks that a dead link was noticed, took less the grace
// period after it died: after a ping timed out, and within deadLinkBound.
func checkNoticed(t *testing.T, what string, took, grace time.Duration) {
	t.Helper()
	noticed := took - grace
	if noticed < signaling.DefaultPingTimeout || noticed > deadLinkBound {
		t.Errorf("%s: noticed %v after the link froze, want between %v and %v", what, noticed, signaling.DefaultPingTimeout, deadLinkBound)
	}
	t.Logf("%s: noticed within %v", what, noticed.Round(10*time.Millisecond))
}

// A partition that the server does not close is noticed by the Go client's
// own pings: it reports sessionReconnecting, keeps trying while the
// partition lasts, and resumes its connection once the network is back,
// with the events it missed and without anyone seeing it leave.
func TestPartitionedClientNoticesAndResumes(t *testing.T) {
	// A long grace: the server may notice the partition first, and the
	// connection must outlive the client's attempts into the partition.
	h := newHarness(t, crossbar.Config{ReconnectGrace: 30 * time.Second})
	s := h.session()
	p, flaky, other, id := flakyClient(t, h, s, nil) // default pings
	ctx := context.Background()

	links := p.links.Load() // a link after the freeze is an attempt to resume
	p.freeze()
	start := time.Now()
	nextWithin(t, flaky, pingBound+5*time.Second, client.TypeReconnecting)
	checkNoticed(t, "partitioned Go client, by itself", time.Since(start), 0)
	if err := other.Signal(ctx, id, "t", "while away"); err != nil {
		t.Fatal(err)
	}
	// Heal the partition once an attempt to resume is stuck in it: the
	// client must give that attempt up and try again.
	waitFor(t, 5*time.Second, "an attempt to resume into the partition", func() bool { return p.links.Load() > links })
	p.thaw()
	healed := time.Now()
	nextWithin(t, flaky, 15*time.Second, client.TypeReconnected)
	t.Logf("partitioned Go client: resumed %v after the partition healed", time.Since(healed).Round(10*time.Millisecond))
	checkResumed(t, flaky, other, id)
}

// A publisher that dies (its media and its signaling go silent at once) may
// be a client changing networks: its stream stays, frozen, while its
// connection waits to be resumed, and ends with it, reason
// networkDisconnected, when the reconnect grace is over.
func TestDeadPublisherEndsWithItsGrace(t *testing.T) {
	const grace = 3 * time.Second
	h := newHarness(t, crossbar.Config{ReconnectGrace: grace, Media: sfu.Config{PublishTimeout: time.Second}})
	s := h.session()
	p, viaProxy := newProxy(t, h.ws)
	bh := newBlackhole(t)
	doomed := h.mediaClient(s, viaProxy, "doomed", bh, client.Options{ReconnectFor: -1})
	watcher := h.connect(s, crossbar.RoleSubscriber, "watcher")
	pub := synthesize(t, doomed, "doomed")
	if ev := nextWithin(t, watcher, 10*time.Second, signaling.TypeStreamCreated); ev.Stream.ID != pub.StreamID() {
		t.Fatalf("watcher saw %+v", ev.Stream)
	}

	// Killed: nothing more leaves it, and its TCP connection is reset.
	bh.down.Store(true)
	p.cut()
	start := time.Now()
	ev := nextWithin(t, watcher, grace+10*time.Second, signaling.TypeStreamDestroyed, signaling.TypeConnectionDestroyed)
	took := time.Since(start)
	if ev.Type != signaling.TypeStreamDestroyed || ev.Reason != "networkDisconnected" || ev.Stream.ID != pub.StreamID() {
		t.Fatalf("watcher saw %s %+v, reason %q", ev.Type, ev.Stream, ev.Reason)
	}
	if took < grace {
		t.Errorf("stream destroyed %v after its publisher died, before the grace of %v ended", took, grace)
	}
	t.Logf("dead publisher: streamDestroyed (networkDisconnected) after %v", took.Round(10*time.Millisecond))
	ev = nextWithin(t, watcher, 5*time.Second, signaling.TypeConnectionDestroyed)
	if ev.Reason != "networkDisconnected" || ev.Connection.Data != "doomed" {
		t.Fatalf("watcher saw %+v, reason %q", ev.Connection, ev.Reason)
	}
}

// A publisher whose media path fails while its signaling stays up, and
// which does not restart ICE (here: it cannot, its network is gone), has
// its stream end, reason mediaStopped, PublishTimeout after its publishing
// connection failed.
func TestPublisherWithoutMediaPathStops(t *testing.T) {
	const timeout = time.Second
	h := newHarness(t, crossbar.Config{Media: sfu.Config{PublishTimeout: timeout}})
	s := h.session()
	bh := newBlackhole(t)
	stuck := h.mediaClient(s, h.ws, "stuck", bh, client.Options{})
	watcher := h.connect(s, crossbar.RoleSubscriber, "watcher")
	pub := synthesize(t, stuck, "stuck")
	if ev := nextWithin(t, watcher, 10*time.Second, signaling.TypeStreamCreated); ev.Stream.ID != pub.StreamID() {
		t.Fatalf("watcher saw %+v", ev.Stream)
	}
	bh.down.Store(true)
	start := time.Now()
	ev := nextWithin(t, watcher, 15*time.Second, signaling.TypeStreamDestroyed, signaling.TypeConnectionDestroyed)
	took := time.Since(start)
	if ev.Type != signaling.TypeStreamDestroyed || ev.Reason != "mediaStopped" || ev.Stream.ID != pub.StreamID() {
		t.Fatalf("watcher saw %s %+v, reason %q", ev.Type, ev.Stream, ev.Reason)
	}
	t.Logf("publisher without a media path: streamDestroyed (mediaStopped) after %v", took.Round(10*time.Millisecond))
	if len(s.Connections()) != 2 {
		t.Errorf("the session has %d connections, want the stuck publisher still there", len(s.Connections()))
	}
}

// A subscriber cut off, media and signaling, for longer than a publishing
// connection may be silent resumes its connection and its media: the
// server's subscribing connections outlive such partitions.
func TestPartitionedSubscriberGetsItsMediaBack(t *testing.T) {
	h := newHarness(t, crossbar.Config{
		ReconnectGrace: 30 * time.Second,
		// Shorter than the partition (the viewer notices it after 3-8 s),
		// long enough for a busy machine's handshakes.
		Media: sfu.Config{PublishTimeout: 2 * time.Second},
	})
	s := h.session()
	p, viaProxy := newProxy(t, h.ws)
	bh := newBlackhole(t)
	publisher := h.mediaClient(s, h.ws, "publisher", nil, client.Options{})
	pub := synthesize(t, publisher, "camera")
	viewer := h.mediaClient(s, viaProxy, "viewer", bh, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := pub.WaitCreated(ctx); err != nil {
		t.Fatal(err)
	}
	sub, err := viewer.Subscribe(ctx, pub.StreamID(), client.SubscribeOptions{Audio: true, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	var last atomic.Int64 // when the viewer last read a packet, in Unix nanoseconds
	readCtx, stopReading := context.WithCancel(context.Background())
	reading := make(chan struct{})
	go func() {
		defer close(reading)
		for {
			if _, _, err := sub.ReadRTP(readCtx); err != nil {
				return
			}
			last.Store(time.Now().UnixNano())
		}
	}()
	defer func() {
		stopReading()
		<-reading
	}()
	waitFor(t, 10*time.Second, "media before the partition", func() bool { return last.Load() != 0 })

	p.freeze()
	bh.down.Store(true)
	nextWithin(t, viewer, pingBound+5*time.Second, client.TypeReconnecting)
	p.thaw()
	bh.down.Store(false)
	healed := time.Now()
	nextWithin(t, viewer, 15*time.Second, client.TypeReconnected)
	waitFor(t, 10*time.Second, "media after the partition", func() bool { return last.Load() > healed.UnixNano() })
	t.Logf("partitioned subscriber: media back %v after the partition healed", time.Since(healed).Round(10*time.Millisecond))
	select {
	case <-sub.Done():
		t.Fatalf("subscription ended: %v", sub.Err())
	case <-pub.Done():
		t.Fatalf("stream ended: %v", pub.Err())
	default:
	}
}

// A browser notices a half-open link with its "ping" requests, reports
// sessionReconnecting, and resumes once the network is back, with the
// messages it missed and without anyone seeing it leave.
func TestJSHalfOpenLinkIsNoticedAndResumed(t *testing.T) {
	r := newJSRigConfig(t, crossbar.Config{ReconnectGrace: 30 * time.Second})
	s := r.session()
	px, p, _ := joinViaProxy(t, r, s, "flaky")
	other, _ := r.join("steady", s, crossbar.RolePublisher)
	p.Wait("steady arrived", `S.connections.length === 2`, 5*time.Second)

	links := px.links.Load() // a link after the freeze is an attempt to resume
	px.freeze()
	start := time.Now()
	p.Wait("sessionReconnecting", `types().includes('sessionReconnecting')`, pingBound+5*time.Second)
	checkNoticed(t, "half-open browser, by the page", time.Since(start), 0)
	other.Eval(`S.signal({type: 'away', data: 'while away'})`, nil)
	waitFor(t, 5*time.Second, "an attempt to resume into the partition", func() bool { return px.links.Load() > links })
	px.thaw()
	p.Wait("sessionReconnected", `types().includes('sessionReconnected')`, 15*time.Second)
	p.Wait("the signal sent while away", `log.filter((e) => e.type === 'signal:away').length === 1`, 5*time.Second)
	p.Eval(`S.signal({type: 'back', data: 'hi'})`, nil)
	other.Wait("signal from the resumed page", `types().includes('signal:back')`, 5*time.Second)
	var others []string
	other.Eval(`types()`, &others)
	if slices.Contains(others, "connectionDestroyed") {
		t.Errorf("the other page saw the connection go: %v", others)
	}
}

// The server's pings notice a browser whose link went half-open; after the
// grace period the others see it go with reason networkDisconnected.
func TestJSHalfOpenBrowserIsNoticedByTheServer(t *testing.T) {
	const grace = 500 * time.Millisecond
	r := newJSRigConfig(t, crossbar.Config{ReconnectGrace: grace})
	s := r.session()
	px, _, id := joinViaProxy(t, r, s, "half")
	other, _ := r.join("other", s, crossbar.RolePublisher)

	px.freeze()
	start := time.Now()
	other.Wait("connectionDestroyed", fmt.Sprintf(`log.some((e) => e.type === 'connectionDestroyed' && e.id === %q && e.reason === 'networkDisconnected')`, id),
		pingBound+grace+5*time.Second)
	took := time.Since(start)
	checkNoticed(t, "half-open browser, by the server", took, grace)
}

// "ping" is answered at once, whatever the role may do.
func TestPingIsAnswered(t *testing.T) {
	h := newHarness(t, crossbar.Config{})
	s := h.session()
	ws := rawJoin(t, h, s, crossbar.RoleSubscriber).ws
	send(t, ws, &signaling.Message{Type: signaling.TypePing, ID: 5})
	if m := read(t, ws); m.Type != signaling.TypeOK || m.Re != 5 {
		t.Fatalf("got %+v", m)
	}
}

// A publisher whose media never reaches the server (its path is dead from
// the start) is told its stream ended, reason mediaStopped, once the
// server gave up on its peer connection: its publish does not hang.
func TestPublishWithoutAMediaPathEnds(t *testing.T) {
	h := newHarness(t, crossbar.Config{Media: sfu.Config{PublishTimeout: time.Second}})
	s := h.session()
	bh := newBlackhole(t)
	bh.down.Store(true)
	publisher := h.mediaClient(s, h.ws, "publisher", bh, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pub, err := publisher.Publish(ctx, client.PublishOptions{Name: "camera", Audio: true, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = pub.WaitCreated(ctx)
	if !errors.Is(err, client.ErrUnpublished) || !strings.Contains(err.Error(), string(crossbar.ReasonMediaStopped)) {
		t.Fatalf("publishing without a media path: %v, want the stream ended, mediaStopped", err)
	}
	t.Logf("publish without a media path ended after %v: %v", time.Since(start).Round(10*time.Millisecond), err)
	if n := len(s.Streams()); n != 0 {
		t.Errorf("the session has %d streams", n)
	}
}
