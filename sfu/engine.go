package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/transport/v2"
	"github.com/pion/transport/v2/stdnet"
	"github.com/pion/webrtc/v3"
)

// ErrEngineClosed is returned by NewPeer after Close.
var ErrEngineClosed = errors.New("sfu: engine closed")

// tcpMuxWriteBuffer bounds what may wait for one ICE-TCP connection: a slow
// TCP subscriber loses packets instead of blocking its writer.
const tcpMuxWriteBuffer = 4 << 20

// Config configures an Engine. The zero value works on any host: one UDP
// port chosen by the system, shared by every PeerConnection.
type Config struct {
	// Logger receives the engine's and Pion's logs; nil discards them.
	Logger *slog.Logger
	// UDPAddr is the address of the UDP socket shared by every
	// PeerConnection (ICE UDP mux). A specific IP gets one socket; an
	// unspecified IP ("0.0.0.0", "::" or empty host) gets one socket per
	// local interface address on the same port. Default "0.0.0.0:0", or
	// "127.0.0.1:0" with LoopbackOnly.
	UDPAddr string
	// PortMin and PortMax, when set and UDPAddr is empty, give every
	// PeerConnection its own ephemeral UDP port in this range instead of
	// the shared socket.
	PortMin, PortMax uint16
	// TCPAddr is the address of an optional ICE-TCP listener (ICE TCP mux)
	// for clients whose UDP is blocked; empty disables ICE-TCP.
	TCPAddr string
	// PublicIPs are the public addresses of a host behind a 1:1 NAT; they
	// replace the local addresses in host candidates.
	PublicIPs []string
	// ICEServers are the STUN/TURN servers handed to clients (the engine
	// itself uses none).
	ICEServers []webrtc.ICEServer
	// LoopbackOnly gathers only loopback candidates (tests). A host with
	// no network interface but loopback gets it too, with a warning, when
	// the media sockets are to listen on every interface (UDPAddr
	// unspecified, or a port range).
	LoopbackOnly bool
	// Interceptors are added to every PeerConnection after the engine's
	// own (metrics, or network emulation in tests).
	Interceptors []interceptor.Factory
	// PublishTimeout is how long a publishing PeerConnection may receive
	// nothing, neither media nor answers to the engine's ICE consent
	// checks, before it fails (webrtc.PeerConnectionStateFailed, reported
	// to PeerConfig.OnConnectionStateChange): a publisher that died or lost
	// its network is noticed within about PublishTimeout and a second (two
	// from a PublishTimeout of 10 s on).
	// Zero means DefaultPublishTimeout. Subscribing connections keep Pion's
	// ICE timeouts (failed after 30 s).
	PublishTimeout time.Duration
}

// DefaultPublishTimeout is the default of Config.PublishTimeout.
const DefaultPublishTimeout = 5 * time.Second

// A subscribing connection is disconnected after 5 s without a packet
// and fails 25 s later (Pion's defaults).
const (
	subscribeDisconnected = 5 * time.Second
	subscribeFailed       = 25 * time.Second
)

// Engine is one server's forwarding engine: one webrtc.API and one set of
// network listeners shared by every Peer.
type Engine struct {
	cfg Config
	log *slog.Logger
	// publishMedia are the codecs of publishing connections, by the one
	// video MIME type allowed ("": all of them, which subscribing
	// connections use too).
	publishMedia map[string]*webrtc.MediaEngine
	registry     *interceptor.Registry
	subRegistry  *interceptor.Registry // for subscribing connections: fewer interceptors
	settings     webrtc.SettingEngine  // each PeerConnection gets a copy with its own ssrcGate
	pubSettings  webrtc.SettingEngine  // settings with the publishing connections' ICE timeouts
	portNet      transport.Net         // the network of port-range sockets
	linkNet      transport.Net         // the network of node links' sockets
	taps         tapFactory
	udpMux       ice.UDPMux
	batches      []*batchConn // the UDP mux's sockets
	arrivals     arrivalTable // when the sockets received recent RTP packets
	tally        tally        // the counters of Totals
	forwarding   atomic.Int32 // Track readers forwarding a packet now (see batchConn)
	ticks        *ticker      // the publishing connections' NACKs and TWCC feedback
	tcpMux       *ice.TCPMuxDefault
	closers      []func() error

	mu     sync.Mutex
	closed bool
	peers  map[*Peer]struct{}
}

// New builds an Engine: its media engine (Opus, VP8, VP9, H.264), its
// interceptors (NACK generator, RTCP reports, TWCC feedback) and its network
// listeners.
func New(cfg Config) (*Engine, error) {
	e := &Engine{cfg: cfg, log: cfg.Logger, peers: make(map[*Peer]struct{})}
	e.ticks = newTicker(e)
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	media, err := newMediaEngine("")
	if err != nil {
		return nil, err
	}
	registry := e.newInterceptorRegistry()
	e.publishMedia = map[string]*webrtc.MediaEngine{"": media}
	for _, mime := range []string{webrtc.MimeTypeVP8, webrtc.MimeTypeVP9, webrtc.MimeTypeH264} {
		if e.publishMedia[mime], err = newMediaEngine(mime); err != nil {
			return nil, err
		}
	}
	se := webrtc.SettingEngine{LoggerFactory: pionLoggerFactory{e.log}}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// The engine offers on subscribing connections, so it picks their
	// candidate pair. A client that trickles its candidates is first seen
	// as a peer-reflexive one, which Pion would wait a second before
	// choosing; the engine has only host candidates, so do not wait.
	se.SetPrflxAcceptanceMinWait(0)
	if err := e.setupNetwork(&se); err != nil {
		_ = e.closeListeners()
		return nil, err
	}
	e.registry, e.subRegistry = registry, e.newSubscribingRegistry()
	e.settings, e.pubSettings = se, se
	// Subscribing connections keep Pion's timeouts, with a consent check
	// when nothing was received or sent for half the time to disconnected,
	// as publishing ones (see setPublishTimeout), not every 2 s.
	e.settings.SetICETimeouts(subscribeDisconnected, subscribeFailed, subscribeDisconnected/2)
	setPublishTimeout(&e.pubSettings, cfg.PublishTimeout)
	return e, nil
}

// setPublishTimeout sets the ICE timeouts that make a publishing connection
// fail once it has received nothing for timeout (zero: the default). ICE
// calls the connection disconnected after 2/5 of it and failed after all
// of it. The agent sends a consent check when it has received or sent
// nothing for half the time to disconnected, so that a live publisher
// that sends no media still answers twice before then (every second with
// the default timeout). A longer timeout checks less often: a client
// sends its own checks (browsers every 2.5 s, Pion every 2 s), and the
// engine's answers to them are enough sent, so an idle publisher costs one
// exchange every few seconds instead of one a second. The agent looks at
// its state every keep-alive interval, every 2 s at most (Pion's cap).
func setPublishTimeout(se *webrtc.SettingEngine, timeout time.Duration) {
	if timeout <= 0 {
		timeout = DefaultPublishTimeout
	}
	disconnected := timeout * 2 / 5
	se.SetICETimeouts(disconnected, timeout-disconnected, disconnected/2)
}

// apiFor returns the webrtc.API of one PeerConnection: the engine's, with
// codecs media, settings se, Pion's logs to log and gate in front of its
// sockets.
func (e *Engine) apiFor(log *slog.Logger, media *webrtc.MediaEngine, se webrtc.SettingEngine, registry *interceptor.Registry, gate *ssrcGate, link bool) *webrtc.API {
	se.LoggerFactory = pionLoggerFactory{log}
	switch {
	case link:
		// A node link has sockets of its own: two engines' links in both
		// directions would otherwise share one pair of addresses, which
		// the UDP mux routes to one connection only.
		se.SetNet(gatedNet{e.linkNet, gate})
	case e.udpMux != nil:
		se.SetICEUDPMux(gatedUDPMux{e.udpMux, gate})
	case e.portNet != nil:
		se.SetNet(gatedNet{e.portNet, gate})
	}
	if e.tcpMux != nil && !link {
		se.SetICETCPMux(gatedTCPMux{e.tcpMux, gate})
	}
	return webrtc.NewAPI(
		webrtc.WithMediaEngine(media),
		webrtc.WithInterceptorRegistry(registry),
		webrtc.WithSettingEngine(se),
	)
}

// newMediaEngine registers the codecs a Peer can publish and receive: Opus
// and video of the MIME type video (empty: VP8, VP9 and H.264), with their
// feedback and header extensions, TWCC's included.
func newMediaEngine(video string) (*webrtc.MediaEngine, error) {
	m := &webrtc.MediaEngine{}
	codecs := []struct {
		kind  webrtc.RTPCodecType
		codec webrtc.RTPCodecParameters
	}{
		{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}}},
		{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}},
		{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{PayloadType: 98, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0"}}},
		{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{PayloadType: 102, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"}}},
		{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{PayloadType: 125, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}}},
	}
	for _, c := range codecs {
		if video != "" && c.kind == webrtc.RTPCodecTypeVideo && c.codec.MimeType != video {
			continue
		}
		if err := m.RegisterCodec(c.codec, c.kind); err != nil {
			return nil, fmt.Errorf("sfu: register codec %s: %w", c.codec.MimeType, err)
		}
	}
	for _, fb := range []webrtc.RTCPFeedback{
		{Type: webrtc.TypeRTCPFBNACK},
		{Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"},
		{Type: webrtc.TypeRTCPFBCCM, Parameter: "fir"},
		// Subscribers estimate their bandwidth from the abs-send-time of
		// the video they receive and report it in REMB (see bwe.go).
		{Type: webrtc.TypeRTCPFBGoogREMB},
	} {
		m.RegisterFeedback(fb, webrtc.RTPCodecTypeVideo)
	}
	// Simulcast layers are told apart by their RID header extension.
	if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
		return nil, fmt.Errorf("sfu: simulcast header extensions: %w", err)
	}
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("sfu: audio level header extension: %w", err)
	}
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: absSendTimeURI}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, fmt.Errorf("sfu: abs-send-time header extension: %w", err)
	}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		m.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, kind)
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: transportCCURI}, kind); err != nil {
			return nil, fmt.Errorf("sfu: register the TWCC extension: %w", err)
		}
	}
	return m, nil
}

// newInterceptorRegistry builds the interceptors of publishing connections,
// which only receive media: the statistics tap (first, to see what the
// others write), NACKs, receiver reports (but on streams that received
// nothing since their last) and TWCC feedback to publishers, all sent on
// the engine's tick.
func (e *Engine) newInterceptorRegistry() *interceptor.Registry {
	r := &interceptor.Registry{}
	r.Add(&e.taps)
	r.Add(&nackFactory{ticks: e.ticks})
	r.Add(&reportsFactory{ticks: e.ticks})
	r.Add(&twccFactory{arrivals: &e.arrivals, ticks: e.ticks})
	for _, f := range e.cfg.Interceptors {
		r.Add(f)
	}
	return r
}

// newSubscribingRegistry builds the interceptors of subscribing
// connections, which only send media: none but Config.Interceptors. The
// DownTracks send their sender reports and answer NACKs themselves; the
// NACK generator, receiver reports and TWCC feedback concern received media.
func (e *Engine) newSubscribingRegistry() *interceptor.Registry {
	r := &interceptor.Registry{}
	for _, f := range e.cfg.Interceptors {
		r.Add(f)
	}
	return r
}

// setupNetwork opens the shared UDP socket(s) (or sets the port range), the
// optional ICE-TCP listener, and the candidate filters.
func (e *Engine) setupNetwork(se *webrtc.SettingEngine) error {
	std, err := stdnet.NewNet()
	if err != nil {
		return fmt.Errorf("sfu: list network interfaces: %w", err)
	}
	e.linkNet = std
	if !e.cfg.LoopbackOnly && e.cfg.everyInterface() {
		ok, err := hasNetwork(std)
		if err != nil {
			return err
		}
		if !ok {
			e.log.Warn("sfu: this host has no network interface but loopback: media is served on loopback, which only clients on this host reach")
			e.cfg.LoopbackOnly = true
		}
	}
	cfg := e.cfg
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if cfg.LoopbackOnly {
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	if cfg.UDPAddr == "" && cfg.PortMin != 0 {
		if err := se.SetEphemeralUDPPortRange(cfg.PortMin, cfg.PortMax); err != nil {
			return fmt.Errorf("sfu: UDP port range %d-%d: %w", cfg.PortMin, cfg.PortMax, err)
		}
		e.portNet = std
	} else {
		mux, err := e.listenUDP()
		if err != nil {
			return err
		}
		e.udpMux = mux
		e.closers = append(e.closers, mux.Close)
	}
	if cfg.TCPAddr != "" {
		l, err := net.Listen("tcp", cfg.TCPAddr)
		if err != nil {
			return fmt.Errorf("sfu: ICE-TCP listener on %s: %w", cfg.TCPAddr, err)
		}
		e.tcpMux = ice.NewTCPMuxDefault(ice.TCPMuxParams{
			Listener:        l,
			Logger:          pionLoggerFactory{e.log}.NewLogger("tcpmux"),
			ReadBufferSize:  64,
			WriteBufferSize: tcpMuxWriteBuffer,
		})
		e.closers = append(e.closers, e.tcpMux.Close)
		networks = append(networks, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	se.SetNetworkTypes(networks)
	if len(cfg.PublicIPs) > 0 {
		se.SetNAT1To1IPs(cfg.PublicIPs, webrtc.ICECandidateTypeHost)
	}
	return nil
}

// listenUDP opens the UDP mux on Config.UDPAddr.
func (e *Engine) listenUDP() (ice.UDPMux, error) {
	addr := e.cfg.UDPAddr
	if addr == "" {
		addr = "0.0.0.0:0"
		if e.cfg.LoopbackOnly {
			addr = "127.0.0.1:0"
		}
	}
	udpAddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("sfu: UDP address %q: %w", addr, err)
	}
	logger := pionLoggerFactory{e.log}.NewLogger("udpmux")
	if ip := udpAddr.IP; ip != nil && !ip.IsUnspecified() {
		conn, err := net.ListenUDP("udp", udpAddr)
		if err != nil {
			return nil, fmt.Errorf("sfu: UDP socket on %s: %w", addr, err)
		}
		batch := newBatchConn(conn, &e.arrivals, &e.forwarding)
		e.batches = append(e.batches, batch)
		return ice.NewUDPMuxDefault(ice.UDPMuxParams{Logger: logger, UDPConn: batch}), nil
	}
	std, err := stdnet.NewNet()
	if err != nil {
		return nil, fmt.Errorf("sfu: list network interfaces: %w", err)
	}
	opts := []ice.UDPMuxFromPortOption{ice.UDPMuxFromPortWithLogger(logger), ice.UDPMuxFromPortWithNet(batchNet{std, e})}
	if udpAddr.IP != nil && udpAddr.IP.To4() != nil {
		opts = append(opts, ice.UDPMuxFromPortWithNetworks(ice.NetworkTypeUDP4))
	}
	if e.cfg.LoopbackOnly {
		opts = append(opts, ice.UDPMuxFromPortWithLoopback(),
			ice.UDPMuxFromPortWithIPFilter(func(ip net.IP) bool { return ip.IsLoopback() }))
	}
	mux, err := ice.NewMultiUDPMuxFromPort(udpAddr.Port, opts...)
	if err != nil {
		return nil, fmt.Errorf("sfu: UDP sockets on %s: %w", addr, err)
	}
	return mux, nil
}

// batchNet is the network of the UDP mux on every interface: its UDP
// sockets batch their writes (batchConn).
type batchNet struct {
	transport.Net
	e *Engine
}

// ListenUDP opens a UDP socket with batched writes.
func (n batchNet) ListenUDP(network string, addr *net.UDPAddr) (transport.UDPConn, error) {
	conn, err := n.Net.ListenUDP(network, addr)
	if udp, ok := conn.(*net.UDPConn); ok && err == nil {
		batch := newBatchConn(udp, &n.e.arrivals, &n.e.forwarding)
		n.e.batches = append(n.e.batches, batch)
		return batch, nil
	}
	return conn, err
}

// flushWrites sends what waits in the UDP sockets' batches.
func (e *Engine) flushWrites() {
	for _, c := range e.batches {
		_ = c.Flush()
	}
}

// holdWrites and releaseWrites enclose a Track reader's forwarding of a
// packet, or the ticker's round: the UDP sockets batch what is written in
// between, which leaves together at releaseWrites, without waiting for the
// batch timer.
func (e *Engine) holdWrites() { e.forwarding.Add(1) }

func (e *Engine) releaseWrites() {
	e.flushWrites()
	e.forwarding.Add(-1)
}

// LocalAddrs returns the addresses the engine listens on for media: the
// shared UDP socket(s) and the ICE-TCP listener. It is empty with a port range.
func (e *Engine) LocalAddrs() []net.Addr {
	var addrs []net.Addr
	if e.udpMux != nil {
		addrs = append(addrs, e.udpMux.GetListenAddresses()...)
	}
	if e.tcpMux != nil {
		addrs = append(addrs, e.tcpMux.LocalAddr())
	}
	return addrs
}

// ICEServers returns the STUN/TURN servers clients should use.
func (e *Engine) ICEServers() []webrtc.ICEServer {
	return append([]webrtc.ICEServer(nil), e.cfg.ICEServers...)
}

// newPeerConnection creates a publishing PeerConnection for video of the
// MIME type video (empty: any), logging to log, behind gate, whose outgoing
// RTCP is shown to observe (nil: not observed). A node link's importing
// end keeps the subscribing connections' longer ICE timeouts: a node that
// is gone is noticed by the cluster, and a link on a loaded node must not
// fail while its handshakes take a few seconds.
func (e *Engine) newPeerConnection(log *slog.Logger, video string, gate *ssrcGate, link bool, observe func([]rtcp.Packet)) (*webrtc.PeerConnection, error) {
	se := e.pubSettings
	if link {
		se = e.settings
	}
	api := e.apiFor(log, e.publishMedia[video], se, e.registry, gate, link)
	e.taps.mu.Lock()
	defer e.taps.mu.Unlock()
	e.taps.next = observe
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	e.taps.next = nil
	if err != nil {
		return nil, fmt.Errorf("sfu: create peer connection: %w", err)
	}
	return pc, nil
}

// newSubscribingConnection creates a subscribing PeerConnection logging to
// log, behind gate.
func (e *Engine) newSubscribingConnection(log *slog.Logger, gate *ssrcGate, link bool) (*webrtc.PeerConnection, error) {
	pc, err := e.apiFor(log, e.publishMedia[""], e.settings, e.subRegistry, gate, link).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("sfu: create peer connection: %w", err)
	}
	return pc, nil
}

// Close closes every Peer and the network listeners.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	peers := make([]*Peer, 0, len(e.peers))
	for p := range e.peers {
		peers = append(peers, p)
	}
	e.mu.Unlock()

	var errs []error
	for _, p := range peers {
		errs = append(errs, p.Close())
	}
	e.ticks.stop()
	errs = append(errs, e.closeListeners())
	return errors.Join(errs...)
}

func (e *Engine) closeListeners() error {
	var errs []error
	for _, c := range e.closers {
		if err := c(); err != nil {
			errs = append(errs, fmt.Errorf("sfu: close listener: %w", err))
		}
	}
	return errors.Join(errs...)
}

// addPeer registers a Peer so that Close closes it.
func (e *Engine) addPeer(p *Peer) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrEngineClosed
	}
	e.peers[p] = struct{}{}
	return nil
}

func (e *Engine) removePeer(p *Peer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.peers, p)
}
