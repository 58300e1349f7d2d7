package client

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/transport/v2"
	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar/signaling"
)

// negotiationTimeout bounds the requests the client makes on its own, to
// answer the server's offers and release transceivers.
const negotiationTimeout = 10 * time.Second

// MediaOptions tune the client's WebRTC peer connections. The zero value
// uses Pion's default codecs and interceptors on every network interface.
type MediaOptions struct {
	// API builds the peer connections; nil means one with Pion's default
	// codecs and interceptors (NACK, RTCP reports, TWCC, statistics).
	API *webrtc.API
	// LoopbackOnly gathers only IPv4 loopback candidates, for tests on one
	// host. It is ignored when API is set.
	LoopbackOnly bool
	// Net, when set, is the network the peer connections' ICE runs on:
	// Pion's virtual network, or a wrapper of the host's that simulates
	// failures. It is ignored when API is set.
	Net transport.Net
	// Interceptors are added to the peer connections between Pion's
	// default ones and the network, so that what they drop the NACK
	// responder can send again: a network impairment (crossbartest/netem),
	// say. They are ignored when API is set.
	Interceptors []interceptor.Factory
	// VideoCodecs are the video codecs the client tells the server it
	// decodes (VP8, H264, VP9), which a session whose codec is what every
	// client decodes weighs: those of API's MediaEngine. Nil means all
	// three, as the default API's; set it with an API that has fewer.
	VideoCodecs []string
}

// decodes returns the video codecs the client declares in "connect".
func (o MediaOptions) decodes() []string {
	if o.VideoCodecs == nil {
		return []string{"VP8", "H264", "VP9"}
	}
	return o.VideoCodecs
}

// mediaState holds a Session's peer connections and the publishers and
// subscribers using them. Its zero value is ready.
type mediaState struct {
	mu          sync.Mutex
	closed      bool
	api         *webrtc.API
	pub, sub    *webrtc.PeerConnection
	pubTrickle  *trickle
	subTrickle  *trickle
	publishers  map[string]*Publisher   // by stream id
	subscribers map[string]*Subscriber  // by stream id
	relays      map[relayKey]*relayPeer // relayed sessions: the peer connections with other clients
	early       map[string][]string     // relayed sessions: subscribers of a stream Publish has not registered yet
	tasks       []func()                // work for the media goroutine, in order
	working     bool                    // the media goroutine is running
	worker      sync.WaitGroup          // the media goroutine
	wg          sync.WaitGroup          // every other goroutine the media side started
	unrouted    atomic.Uint64           // packets of tracks no subscription wanted

	negotiating sync.Mutex // held through each publisher PC negotiation
	closeOnce   sync.Once

	restarting map[string]bool    // by PC: an ICE restart loop runs (restart.go)
	lost       map[string]bool    // by PC: its path is lost, as ICE or the server said
	unanswered *signaling.Message // a subscriber answer whose link was lost before the reply
	iceWake    chan struct{}      // closed to wake the restart loops
}

// newAPI builds the default webrtc.API for opts.
func newAPI(opts MediaOptions) (*webrtc.API, error) {
	if opts.API != nil {
		return opts.API, nil
	}
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, fmt.Errorf("client: register codecs: %w", err)
	}
	r := &interceptor.Registry{}
	for _, f := range opts.Interceptors {
		r.Add(f) // first: a chain's first interceptor is the nearest to the network
	}
	if err := webrtc.RegisterDefaultInterceptors(m, r); err != nil {
		return nil, fmt.Errorf("client: register interceptors: %w", err)
	}
	se := webrtc.SettingEngine{}
	// A path that carried nothing for 2 s is lost (disconnected), and ICE
	// restarts (restart.go): a browser notices about as fast. Checks go
	// every 500 ms while nothing else does.
	se.SetICETimeouts(2*time.Second, 25*time.Second, 500*time.Millisecond)
	if opts.Net != nil {
		se.SetNet(opts.Net)
	}
	if opts.LoopbackOnly {
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(r), webrtc.WithSettingEngine(se)), nil
}

// peerConnection returns the publisher or subscriber PC, creating it with
// the server's ICE servers on first use.
func (s *Session) peerConnection(pc string) (*webrtc.PeerConnection, *trickle, error) {
	m := &s.media
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, nil, ErrDisconnected
	}
	conn, tr := m.pub, m.pubTrickle
	if pc == signaling.PCSubscriber {
		conn, tr = m.sub, m.subTrickle
	}
	if conn != nil {
		return conn, tr, nil
	}
	conn, tr, err := s.newPeerConnectionLocked(func(c *signaling.ICECandidate) *signaling.Message {
		return &signaling.Message{Type: signaling.TypeCandidate, PC: pc, Candidate: c}
	})
	if err != nil {
		return nil, nil, fmt.Errorf("client: create %s peer connection: %w", pc, err)
	}
	if pc == signaling.PCSubscriber {
		conn.OnTrack(s.onSubscriberTrack)
		m.sub, m.subTrickle = conn, tr
	} else {
		m.pub, m.pubTrickle = conn, tr
	}
	s.watchICE(conn, pc)
	return conn, tr, nil
}

// newPeerConnectionLocked makes a peer connection with the server's ICE
// servers, whose candidates are sent as the messages wrap makes. The
// caller holds m.mu.
func (s *Session) newPeerConnectionLocked(wrap func(*signaling.ICECandidate) *signaling.Message) (*webrtc.PeerConnection, *trickle, error) {
	m := &s.media
	if m.api == nil {
		api, err := newAPI(s.opts.Media)
		if err != nil {
			return nil, nil, err
		}
		m.api = api
	}
	var servers []webrtc.ICEServer
	for _, is := range s.ICEServers() {
		servers = append(servers, webrtc.ICEServer{URLs: is.URLs, Username: is.Username, Credential: is.Credential})
	}
	conn, err := m.api.NewPeerConnection(webrtc.Configuration{ICEServers: servers})
	if err != nil {
		return nil, nil, err
	}
	tr := &trickle{s: s, wrap: wrap}
	conn.OnICECandidate(tr.add)
	return conn, tr, nil
}

// goTracked runs f on a goroutine that closeMedia waits for, unless the
// media side is closed. It reports whether f was started.
func (m *mediaState) goTracked(f func()) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
	return true
}

// enqueue runs f on the media goroutine after the work queued before it.
func (m *mediaState) enqueue(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.tasks = append(m.tasks, f)
	if m.working {
		return
	}
	m.working = true
	m.worker.Add(1)
	go m.work()
}

// work runs queued tasks until none is left.
func (m *mediaState) work() {
	defer m.worker.Done()
	for {
		m.mu.Lock()
		if len(m.tasks) == 0 || m.closed {
			m.tasks = nil
			m.working = false
			m.mu.Unlock()
			return
		}
		f := m.tasks[0]
		m.tasks = m.tasks[1:]
		m.mu.Unlock()
		f()
	}
}

// routeMedia hands the media side a message from the server: subscriber
// offers, relayed negotiation, and the events about our publishers,
// subscriptions and the other ends of our relayed peer connections. apply
// has already updated the session's view with it.
func (s *Session) routeMedia(msg *signaling.Message) {
	m := &s.media
	switch msg.Type {
	case signaling.TypeSubscriberOffer:
		sdp, n := msg.SDP, msg.Negotiation
		m.enqueue(func() { s.answerSubscriberOffer(sdp, n) })
	case signaling.TypePeerSubscribed:
		key := relayKey{streamID: msg.StreamID, peerID: msg.ConnectionID}
		m.enqueue(func() { s.peerSubscribed(key) })
	case signaling.TypePeerUnsubscribed:
		key := relayKey{streamID: msg.StreamID, peerID: msg.ConnectionID}
		m.enqueue(func() { s.closeRelays(func(k relayKey) bool { return k == key }) })
	case signaling.TypeRelay:
		m.enqueue(func() { s.relay(msg) })
	case signaling.TypePathLost:
		// The server hears nothing from us: our network changed, for
		// both peer connections, before our side noticed.
		for _, pc := range []string{signaling.PCPublisher, signaling.PCSubscriber} {
			s.pathLost(pc, true)
		}
	case signaling.TypeConnectionDestroyed:
		if msg.Connection != nil {
			id := msg.Connection.ID
			m.enqueue(func() { s.closeRelays(func(k relayKey) bool { return k.peerID == id }) })
		}
	case signaling.TypeMuteForced, signaling.TypeStreamPropertyChanged:
		s.mutedByModerator(msg)
	case signaling.TypeSubscriptionFailed:
		s.subscriptionFailed(msg)
	case signaling.TypeStreamCreated:
		if msg.Stream == nil {
			return
		}
		m.mu.Lock()
		p := m.publishers[msg.Stream.ID]
		m.mu.Unlock()
		if p != nil {
			p.announce(*msg.Stream)
		}
	case signaling.TypeStreamDestroyed:
		if msg.Stream == nil {
			return
		}
		m.mu.Lock()
		p := m.publishers[msg.Stream.ID]
		sub := m.subscribers[msg.Stream.ID]
		m.mu.Unlock()
		if p != nil && p.end(msg.Reason) {
			// The server ended the stream: release its transceivers.
			m.enqueue(func() {
				ctx, cancel := context.WithTimeout(context.Background(), negotiationTimeout)
				defer cancel()
				_ = s.release(ctx, p)
			})
		}
		if sub != nil {
			sub.end(fmt.Errorf("%w: stream destroyed (%s)", ErrSubscriptionEnded, msg.Reason))
		}
		id := msg.Stream.ID
		m.mu.Lock()
		delete(m.early, id)
		m.mu.Unlock()
		m.enqueue(func() { s.closeRelays(func(k relayKey) bool { return k.streamID == id }) })
	}
}

// closeMedia closes the peer connections, ends every publisher and
// subscriber, and waits for the media goroutines. It may be called more
// than once.
//
// The peer connections are closed once nothing negotiates them: the media
// goroutine has stopped and no Publish or release holds negotiating. Pion
// leaks the ICE agent of a connection closed during a negotiation step
// before it had one: the step creates the agent after Close, and nothing
// closes it then.
func (s *Session) closeMedia() {
	m := &s.media
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
		m.wakeICE()
		m.worker.Wait()
		m.negotiating.Lock()
		m.mu.Lock()
		pcs := []*webrtc.PeerConnection{m.pub, m.sub}
		for _, r := range m.relays {
			pcs = append(pcs, r.pc)
		}
		m.pub, m.sub, m.relays = nil, nil, nil
		pubs, subs := m.publishers, m.subscribers
		m.publishers, m.subscribers = nil, nil
		m.mu.Unlock()
		for _, pc := range pcs {
			if pc != nil {
				_ = pc.Close()
			}
		}
		m.negotiating.Unlock()
		reason := s.reasonOr("clientDisconnected")
		for _, p := range pubs {
			p.end(reason)
		}
		for _, sub := range subs {
			sub.end(fmt.Errorf("%w: %s", ErrDisconnected, reason))
		}
		m.wg.Wait()
	})
}

// send writes msg without waiting for a reply: the server answers only
// if it fails, and that answer is not read.
func (s *Session) send(ctx context.Context, msg *signaling.Message) error {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return ErrDisconnected
	}
	t := s.t
	s.mu.Unlock()
	b, err := signaling.Encode(msg)
	if err != nil {
		return err
	}
	if err := s.write(ctx, t, b); err != nil {
		return fmt.Errorf("client: send %s: %w", msg.Type, err)
	}
	return nil
}

// trickle sends a peer connection's ICE candidates to the other end,
// holding them until it has the description they belong to.
type trickle struct {
	s       *Session
	wrap    func(*signaling.ICECandidate) *signaling.Message // makes the message carrying a candidate
	mu      sync.Mutex                                       // held while sending, to keep candidates in order
	ready   bool
	pending []webrtc.ICECandidateInit
}

// add is the peer connection's OnICECandidate handler.
func (t *trickle) add(c *webrtc.ICECandidate) {
	if c == nil {
		return // gathering is complete
	}
	init := c.ToJSON()
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.ready {
		t.pending = append(t.pending, init)
		return
	}
	t.sendLocked(init)
}

// hold holds the candidates gathered from now on until the next start: for
// an ICE restart, whose candidates belong to its new description.
func (t *trickle) hold() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ready, t.pending = false, nil
}

// start sends the candidates held so far but those in sent, the
// description the server has, and later ones as they come.
func (t *trickle) start(sent string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ready {
		return
	}
	t.ready = true
	for _, c := range t.pending {
		if !strings.Contains(sent, "a="+c.Candidate+"\r\n") {
			t.sendLocked(c)
		}
	}
	t.pending = nil
}

// sendLocked sends one candidate. A candidate that cannot be sent is
// dropped: ICE then goes on with the others.
func (t *trickle) sendLocked(c webrtc.ICECandidateInit) {
	ctx, cancel := context.WithTimeout(context.Background(), negotiationTimeout)
	defer cancel()
	_ = t.s.send(ctx, t.wrap(&signaling.ICECandidate{
		Candidate:     c.Candidate,
		SDPMid:        c.SDPMid,
		SDPMLineIndex: c.SDPMLineIndex,
	}))
}
