package sfu

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v3"
)

var (
	// ErrPeerClosed is returned by the methods of a closed Peer.
	ErrPeerClosed = errors.New("sfu: peer closed")
	// ErrUnknownCodec is returned by NewPeer for a VideoCodec the engine
	// does not have.
	ErrUnknownCodec = errors.New("sfu: unknown codec")
	// ErrNotSubscribed is returned by Unsubscribe for a DownTrack that is
	// not (or no longer) a subscription of the Peer.
	ErrNotSubscribed = errors.New("sfu: not subscribed")
	// ErrStaleAnswer is returned by SetSubscriberAnswer for an answer to
	// an offer already answered or followed by another.
	ErrStaleAnswer = errors.New("sfu: answer to an earlier offer")
	// ErrNoOffer is returned by SetSubscriberAnswer when no offer is outstanding.
	ErrNoOffer = errors.New("sfu: no subscriber offer outstanding")
	// ErrNotPublishing is returned by AddICECandidate for the publishing
	// connection before the client offered it (Publish).
	ErrNotPublishing = errors.New("sfu: no publishing connection: the client has not offered one")
)

// gatherTimeout bounds the wait for the engine's ICE candidates before an
// SDP is handed out. The engine does not trickle: its offers and answers
// carry all its candidates.
const gatherTimeout = 5 * time.Second

// PCKind names one of a Peer's two PeerConnections.
type PCKind uint8

const (
	// PCPublish is the client's publishing PeerConnection: the client
	// offers (Peer.Publish) and the engine answers.
	PCPublish PCKind = iota + 1
	// PCSubscribe is the client's subscribing PeerConnection: the engine
	// offers (PeerConfig.OnSubscriberOffer) and the client answers
	// (Peer.SetSubscriberAnswer).
	PCSubscribe
)

// String returns "publish" or "subscribe".
func (k PCKind) String() string {
	switch k {
	case PCPublish:
		return "publish"
	case PCSubscribe:
		return "subscribe"
	}
	return fmt.Sprintf("PCKind(%d)", uint8(k))
}

// PeerConfig holds a Peer's callbacks. Each is optional and must not block
// for long.
type PeerConfig struct {
	// OnTrack is called when a track published by this Peer starts
	// arriving; Track.Mid identifies its transceiver in the client's offer.
	OnTrack func(*Track)
	// OnSubscriberOffer delivers an engine-made offer for the subscribing
	// PeerConnection, and its number (1, 2, ...); the client's answer goes
	// to SetSubscriberAnswer. It is called on its own goroutine, one offer
	// at a time: the next offer follows only after the answer to the
	// previous one.
	OnSubscriberOffer func(sdp string, n uint64)
	// OnConnectionStateChange reports state changes of either
	// PeerConnection; on webrtc.PeerConnectionStateFailed the session
	// should close the Peer.
	OnConnectionStateChange func(PCKind, webrtc.PeerConnectionState)
	// VideoCodec is the MIME type of the only video codec the Peer may
	// publish (webrtc.MimeTypeVP8, MimeTypeVP9 or MimeTypeH264): the
	// engine's answers offer no other. Empty allows them all.
	VideoCodec string
	// PublishVideoCodec, if set, is called for the VideoCodec when the
	// publishing PeerConnection is made, at the first Publish, instead of
	// VideoCodec: for a codec that changes while the Peer waits.
	PublishVideoCodec func() string
	// OnSubscribeFailed reports a subscription the client cannot receive:
	// its answer did not accept the codec of the DownTrack's Track (err
	// wraps ErrCodecNotNegotiated). The DownTrack has been removed, as by
	// Unsubscribe; the client's other subscriptions are unaffected. It is
	// called on its own goroutine.
	OnSubscribeFailed func(d *DownTrack, err error)
	// Logger receives the Peer's logs and those of Pion for its
	// PeerConnections, so that a host can tell whose they are (a session
	// and a connection id as attributes, say); nil: the engine's.
	Logger *slog.Logger
	// link: the Peer is one end of a node link, whose connections have
	// sockets of their own (see Engine.apiFor).
	link bool
}

// Peer is one client connection: a subscribing PeerConnection and, once the
// client publishes, a publishing one.
type Peer struct {
	e         *Engine
	cfg       PeerConfig
	log       *slog.Logger
	pub, sub  *webrtc.PeerConnection // pub: nil until Publish; guarded by mu
	pubGate   *ssrcGate              // what reaches pub from the network
	subGate   *ssrcGate              // and sub
	subReady  atomic.Bool            // the subscribing connection is connected
	subUDP    atomic.Bool            // it sends over UDP, whose writes never block (see DownTrack.send)
	videoSubs atomic.Int32           // video DownTracks, which share the subscriber's bandwidth

	trackMu sync.Mutex
	tracks  map[uint32]*Track              // published tracks (simulcast: layers) by SSRC
	groups  map[*webrtc.RTPReceiver]*Track // simulcast groups by receiver
	// join, if set, replaces joinGroup: a LinkIn groups the layers of a
	// node link by their msid.
	join func(t *Track, remote *webrtc.TrackRemote) *Track

	mu          sync.Mutex // guards the fields below and serializes negotiation
	closed      bool
	downTracks  map[*DownTrack]*webrtc.RTPSender
	negotiating bool   // an offer is waiting for its answer
	offered     uint64 // the number of the latest offer
	renegotiate bool   // changes were made while negotiating
	restartICE  bool   // the next offer restarts ICE
	wg          sync.WaitGroup
}

// NewPeer creates a Peer with its subscribing PeerConnection. The
// publishing one is created by the first Publish: a client that only
// subscribes never has one.
func (e *Engine) NewPeer(cfg PeerConfig) (*Peer, error) {
	if _, ok := e.publishMedia[cfg.VideoCodec]; !ok {
		return nil, fmt.Errorf("%w: video codec %q", ErrUnknownCodec, cfg.VideoCodec)
	}
	p := &Peer{
		e:          e,
		cfg:        cfg,
		log:        cmp.Or(cfg.Logger, e.log),
		tracks:     make(map[uint32]*Track),
		groups:     make(map[*webrtc.RTPReceiver]*Track),
		downTracks: make(map[*DownTrack]*webrtc.RTPSender),
		pubGate:    newSSRCGate(),
		subGate:    newSSRCGate(),
	}
	sub, err := e.newSubscribingConnection(p.log, p.subGate, cfg.link)
	if err != nil {
		return nil, err
	}
	p.sub = sub
	sub.OnConnectionStateChange(func(s webrtc.PeerConnectionState) { p.connectionStateChanged(PCSubscribe, s) })
	sub.SCTP().Transport().ICETransport().OnSelectedCandidatePairChange(func(pair *webrtc.ICECandidatePair) {
		p.subUDP.Store(pair.Local.Protocol == webrtc.ICEProtocolUDP)
	})
	if err := e.addPeer(p); err != nil {
		_ = sub.Close()
		return nil, err
	}
	return p, nil
}

// publishingLocked returns the publishing PeerConnection, created on first
// use. The caller holds p.mu.
func (p *Peer) publishingLocked() (*webrtc.PeerConnection, error) {
	if p.pub != nil {
		return p.pub, nil
	}
	video := p.cfg.VideoCodec
	if f := p.cfg.PublishVideoCodec; f != nil {
		video = f()
	}
	if _, ok := p.e.publishMedia[video]; !ok {
		return nil, fmt.Errorf("%w: video codec %q", ErrUnknownCodec, video)
	}
	pub, err := p.e.newPeerConnection(p.log, video, p.pubGate, p.cfg.link, p.observePublisherRTCP)
	if err != nil {
		return nil, err
	}
	pub.OnTrack(func(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) { p.handleTrack(pub, remote, receiver) })
	pub.OnConnectionStateChange(func(s webrtc.PeerConnectionState) { p.connectionStateChanged(PCPublish, s) })
	p.pub = pub
	return pub, nil
}

// Publish applies the client's offer for its publishing PeerConnection and
// returns the engine's answer, with all its ICE candidates. It is called
// again for every renegotiation (tracks added or removed).
func (p *Peer) Publish(offerSDP string) (answerSDP string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return "", ErrPeerClosed
	}
	pub, err := p.publishingLocked()
	if err != nil {
		return "", fmt.Errorf("sfu: publish: %w", err)
	}
	offer := webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offerSDP}
	p.pubGate.declare(offerSDP)
	if err := pub.SetRemoteDescription(offer); err != nil {
		return "", fmt.Errorf("sfu: publish: apply offer: %w", err)
	}
	answer, err := pub.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("sfu: publish: create answer: %w", err)
	}
	sdp, err := setLocalAndGather(pub, answer)
	if err != nil {
		return "", fmt.Errorf("sfu: publish: %w", err)
	}
	return sdp, nil
}

// SetSubscriberAnswer applies the client's answer to the engine's
// subscriber offer number n, or with n 0 to the latest. Subscription
// changes made meanwhile are sent in a new offer. Subscriptions whose
// codec the answer did not accept are removed and reported to
// PeerConfig.OnSubscribeFailed; they are not an error. An answer that
// cannot be applied at all is an error and leaves the offer outstanding.
// An answer to an offer already answered or followed by another is
// ErrStaleAnswer, and changes nothing: a client that lost its answer with
// its signaling link may send it again.
func (p *Peer) SetSubscriberAnswer(sdp string, n uint64) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrPeerClosed
	}
	if n != 0 && (n != p.offered || !p.negotiating) {
		p.mu.Unlock()
		return ErrStaleAnswer
	}
	if !p.negotiating {
		p.mu.Unlock()
		return ErrNoOffer
	}
	answer := webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}
	p.subGate.declare(sdp)
	err := p.sub.SetRemoteDescription(answer)
	if err != nil {
		err = fmt.Errorf("sfu: apply subscriber answer: %w", err)
		if p.sub.SignalingState() == webrtc.SignalingStateHaveLocalOffer {
			p.mu.Unlock()
			return err
		}
		// Applied, but Pion failed after: the negotiation is over all the same.
	}
	p.negotiating = false
	failed := p.dropUnsupportedLocked()
	var offer subscriberOffer
	if p.renegotiate || len(failed) > 0 {
		p.renegotiate = false
		var nerr error
		offer, nerr = p.negotiateLocked()
		err = errors.Join(err, nerr)
	}
	p.mu.Unlock()
	p.deliverOffer(offer)
	if f := p.cfg.OnSubscribeFailed; f != nil {
		for d, ferr := range failed {
			p.goTracked(func() { f(d, ferr) })
		}
	}
	return err
}

// dropUnsupportedLocked removes the DownTracks whose codec the subscriber
// did not accept, and returns them with why. The caller holds p.mu and
// renegotiates.
func (p *Peer) dropUnsupportedLocked() map[*DownTrack]error {
	var failed map[*DownTrack]error
	for d, sender := range p.downTracks {
		err := d.codecError()
		if err == nil {
			continue
		}
		if failed == nil {
			failed = make(map[*DownTrack]error)
		}
		failed[d] = fmt.Errorf("sfu: subscribe to track %q: %w", d.track.ID(), err)
		if rerr := p.removeLocked(d, sender); rerr != nil {
			failed[d] = errors.Join(failed[d], rerr)
		}
	}
	return failed
}

// AddICECandidate adds a candidate trickled by the client for one of its
// PeerConnections.
func (p *Peer) AddICECandidate(pc PCKind, c webrtc.ICECandidateInit) error {
	var conn *webrtc.PeerConnection
	switch pc {
	case PCPublish:
		p.mu.Lock()
		conn = p.pub
		p.mu.Unlock()
		if conn == nil {
			return fmt.Errorf("sfu: add ICE candidate to %v connection: %w", pc, ErrNotPublishing)
		}
	case PCSubscribe:
		conn = p.sub
	default:
		return fmt.Errorf("sfu: add ICE candidate: unknown connection %v", pc)
	}
	if err := conn.AddICECandidate(c); err != nil {
		return fmt.Errorf("sfu: add ICE candidate to %v connection: %w", pc, err)
	}
	return nil
}

// Subscription is one Track for SubscribeTracks to send, with its options.
type Subscription struct {
	Track   *Track
	Options SubscribeOptions
}

// Subscribe sends Track t to this Peer: it is SubscribeTracks with one
// Track.
func (p *Peer) Subscribe(t *Track, opts SubscribeOptions) (*DownTrack, error) {
	downs, err := p.SubscribeTracks(Subscription{Track: t, Options: opts})
	if len(downs) == 0 {
		return nil, err
	}
	return downs[0], err
}

// SubscribeTracks sends several Tracks to this Peer in one negotiation: it
// adds a DownTrack per Subscription to the subscribing PeerConnection and
// renegotiates once, so the subscriber gets them all in one offer (the
// next one, if an offer is outstanding). It returns the DownTracks in the
// order of subs. If a Track cannot be subscribed to (it ended), none is,
// and no offer is made. If the renegotiation fails, the DownTracks are
// returned with the error and stay subscribed until Unsubscribe or Close;
// the Peer is then best closed.
func (p *Peer) SubscribeTracks(subs ...Subscription) ([]*DownTrack, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrPeerClosed
	}
	downs := make([]*DownTrack, 0, len(subs))
	for _, s := range subs {
		d, err := p.addLocked(s.Track, s.Options)
		if err != nil {
			for _, added := range downs {
				err = errors.Join(err, p.removeLocked(added, p.downTracks[added]))
			}
			p.mu.Unlock()
			return nil, err
		}
		downs = append(downs, d)
	}
	var offer subscriberOffer
	var err error
	if len(downs) > 0 {
		offer, err = p.negotiateLocked()
	}
	p.mu.Unlock()
	p.deliverOffer(offer)
	return downs, err
}

// addLocked adds a DownTrack of t to the subscribing connection, which
// then needs a new offer. The caller holds p.mu.
func (p *Peer) addLocked(t *Track, opts SubscribeOptions) (*DownTrack, error) {
	d := newDownTrack(t, opts, &p.subReady, &p.subUDP)
	d.writers = &p.wg
	if d.video {
		d.videoSubs = &p.videoSubs
	}
	d.onTrackClosed = func() { p.goTracked(func() { _ = p.Unsubscribe(d) }) }
	d.tally = &p.e.tally
	p.e.tally.add(d)
	if err := t.addDownTrack(d); err != nil {
		d.close()
		return nil, fmt.Errorf("sfu: subscribe to track %q: %w", t.ID(), err)
	}
	sender, err := p.sub.AddTrack(d)
	if err != nil {
		t.removeDownTrack(d)
		d.close()
		return nil, fmt.Errorf("sfu: subscribe to track %q: add to connection: %w", t.ID(), err)
	}
	p.downTracks[d] = sender
	d.setRTCPWriter(sender.Transport())
	if d.video {
		p.videoSubs.Add(1)
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		d.readRTCP(sender)
	}()
	return d, nil
}

// Unsubscribe stops sending a DownTrack's Track to this Peer and
// renegotiates. It is done automatically when the Track closes.
func (p *Peer) Unsubscribe(d *DownTrack) error {
	p.mu.Lock()
	sender, ok := p.downTracks[d]
	if !ok {
		p.mu.Unlock()
		return ErrNotSubscribed
	}
	var offer subscriberOffer
	err := p.removeLocked(d, sender)
	if err == nil {
		offer, err = p.negotiateLocked()
	}
	p.mu.Unlock()
	p.deliverOffer(offer)
	return err
}

// removeLocked ends a subscription and removes its sender from the
// subscribing connection, which then needs a new offer. The caller holds p.mu.
func (p *Peer) removeLocked(d *DownTrack, sender *webrtc.RTPSender) error {
	delete(p.downTracks, d)
	if d.video {
		p.videoSubs.Add(-1)
	}
	d.track.removeDownTrack(d)
	d.close()
	if err := p.sub.RemoveTrack(sender); err != nil {
		return fmt.Errorf("sfu: unsubscribe from track %q: %w", d.track.ID(), err)
	}
	return nil
}

// negotiateLocked starts an offer on the subscribing connection, or records
// that one is needed once the outstanding one is answered or, for a
// renegotiation, once the connection is up. It returns the offer to
// deliver, if any. The caller holds p.mu.
//
// Renegotiations wait for the connection because a Pion answerer (the Go
// client) starts the receivers of its first answer only once DTLS is up,
// on receivers that a renegotiation applied meanwhile may have replaced:
// its tracks then never start. Media cannot flow before then anyway, and
// the changes made meanwhile go in one offer.
func (p *Peer) negotiateLocked() (subscriberOffer, error) {
	if p.negotiating || (p.sub.CurrentRemoteDescription() != nil && !p.subReady.Load()) {
		p.renegotiate = true
		return subscriberOffer{}, nil
	}
	offer, err := p.sub.CreateOffer(&webrtc.OfferOptions{ICERestart: p.restartICE})
	if err != nil {
		return subscriberOffer{}, fmt.Errorf("sfu: create subscriber offer: %w", err)
	}
	sdp, err := setLocalAndGather(p.sub, offer)
	if err != nil {
		return subscriberOffer{}, fmt.Errorf("sfu: subscriber offer: %w", err)
	}
	p.negotiating, p.restartICE = true, false
	p.offered++
	return subscriberOffer{sdp, p.offered}, nil
}

// RestartICE renegotiates the subscribing PeerConnection with new ICE
// credentials, for a client whose network changed: the offer goes to
// OnSubscriberOffer, after the answer to an offer outstanding. The
// publishing PeerConnection restarts when the client's offer (to Publish)
// has new credentials.
func (p *Peer) RestartICE() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrPeerClosed
	}
	if p.sub.CurrentRemoteDescription() == nil {
		p.mu.Unlock()
		return nil // never negotiated: the first offer has fresh credentials anyway
	}
	p.restartICE = true
	offer, err := p.negotiateLocked()
	p.mu.Unlock()
	p.deliverOffer(offer)
	return err
}

// subscriberOffer is an offer for the subscribing PeerConnection and its
// number; the zero value is none.
type subscriberOffer struct {
	sdp string
	n   uint64
}

// deliverOffer hands an offer to OnSubscriberOffer on its own goroutine.
func (p *Peer) deliverOffer(o subscriberOffer) {
	if f := p.cfg.OnSubscriberOffer; o.sdp != "" && f != nil {
		p.goTracked(func() { f(o.sdp, o.n) })
	}
}

// setLocalAndGather applies a local description and waits for ICE
// gathering, so the returned SDP carries every candidate.
func setLocalAndGather(pc *webrtc.PeerConnection, desc webrtc.SessionDescription) (string, error) {
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(desc); err != nil {
		return "", fmt.Errorf("apply local %s: %w", desc.Type, err)
	}
	timer := time.NewTimer(gatherTimeout)
	defer timer.Stop()
	select {
	case <-gathered:
	case <-timer.C:
		return "", fmt.Errorf("gathering ICE candidates: timed out after %v", gatherTimeout)
	}
	return pc.LocalDescription().SDP, nil
}

// goTracked runs f on a goroutine that Close waits for, unless the Peer is closed.
func (p *Peer) goTracked(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
}

// handleTrack runs on Pion's goroutine for each published track: it makes
// the Track, announces it and feeds it until the publisher stops sending.
func (p *Peer) handleTrack(pub *webrtc.PeerConnection, remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.wg.Add(2)
	p.mu.Unlock()
	defer p.wg.Done()

	go func() {
		defer p.wg.Done()
		drainRTCP(receiver, remote.RID())
	}()
	ssrc := uint32(remote.SSRC())
	p.pubGate.track(ssrc)
	defer p.pubGate.retire(ssrc)
	pli := []rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}
	t := newRemoteTrack(remote, midOf(pub, receiver), audioLevelID(receiver), func() { _ = pub.WriteRTCP(pli) })
	p.e.tally.add(t)
	group := p.joinGroup(t, remote, receiver)
	p.trackMu.Lock()
	p.tracks[ssrc] = t
	p.trackMu.Unlock()

	if f := p.cfg.OnTrack; f != nil && group == t {
		f(t)
	}
	t.readLoop(remote, p.e)
	if group != t {
		group.removeLayer(t)
	}
	t.Close()
	p.e.tally.closedNow(t)

	p.trackMu.Lock()
	delete(p.tracks, ssrc)
	if p.groups[receiver] == t {
		delete(p.groups, receiver)
	}
	p.trackMu.Unlock()
}

// joinGroup returns the Track subscribers see for a new remote track: t
// itself, unless t is a simulcast layer of a receiver whose first layer
// already arrived, which t then joins. Layers are indexed in the order of
// the publisher's RIDs, lowest first.
func (p *Peer) joinGroup(t *Track, remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) *Track {
	if p.join != nil {
		return p.join(t, remote)
	}
	rid := remote.RID()
	if rid == "" {
		return t
	}
	layers := receiver.Tracks()
	index := 0
	for i, l := range layers {
		if l.RID() == rid {
			index = i
		}
	}
	if len(layers) > 8 { // layer sets are a uint8 bit mask
		layers = layers[:8]
		index = min(index, 7)
	}
	p.trackMu.Lock()
	defer p.trackMu.Unlock()
	if group := p.groups[receiver]; group != nil && group.addLayer(t, index) {
		return group
	}
	t.makeGroup(len(layers), index)
	p.groups[receiver] = t
	return t
}

// audioLevelID returns the id of the audio level header extension
// negotiated for a receiver, or 0.
func audioLevelID(receiver *webrtc.RTPReceiver) uint8 {
	for _, ext := range receiver.GetParameters().HeaderExtensions {
		if ext.URI == AudioLevelURI {
			return uint8(ext.ID)
		}
	}
	return 0
}

// midOf returns the mid of pub's transceiver owning receiver.
func midOf(pub *webrtc.PeerConnection, receiver *webrtc.RTPReceiver) string {
	for _, tr := range pub.GetTransceivers() {
		if tr.Receiver() == receiver {
			return tr.Mid()
		}
	}
	return ""
}

// drainRTCP reads a receiver's incoming RTCP (the publisher's sender
// reports) so the report interceptor sees it, until the receiver stops.
// Simulcast layers (rid set) are not read: Pion v3.3.6's ReadSimulcast races
// with the setup of the receiver's later layers, so their sender reports
// are left to Pion's bounded buffers.
func drainRTCP(r *webrtc.RTPReceiver, rid string) {
	if rid != "" {
		return
	}
	buf := make([]byte, maxPacket)
	for {
		if _, _, err := r.Read(buf); err != nil {
			return
		}
	}
}

// observePublisherRTCP counts the NACKs the publishing connection sends,
// per Track.
func (p *Peer) observePublisherRTCP(pkts []rtcp.Packet) {
	for _, pkt := range pkts {
		n, ok := pkt.(*rtcp.TransportLayerNack)
		if !ok {
			continue
		}
		p.trackMu.Lock()
		t := p.tracks[n.MediaSSRC]
		p.trackMu.Unlock()
		if t == nil {
			continue
		}
		for _, pair := range n.Nacks {
			t.nacksSent.Add(nackedCount(pair))
		}
	}
}

// connectionStateChanged lets the DownTracks forward once the subscribing
// connection can carry media, and reports the change.
func (p *Peer) connectionStateChanged(kind PCKind, s webrtc.PeerConnectionState) {
	if kind == PCSubscribe && s == webrtc.PeerConnectionStateConnected && !p.subReady.Swap(true) {
		p.sendHeldOffer()
	}
	if f := p.cfg.OnConnectionStateChange; f != nil {
		f(kind, s)
	}
}

// sendHeldOffer sends the renegotiation negotiateLocked held back until
// the subscribing connection was up.
func (p *Peer) sendHeldOffer() {
	p.mu.Lock()
	var offer subscriberOffer
	var err error
	if !p.closed && !p.negotiating && p.renegotiate {
		p.renegotiate = false
		offer, err = p.negotiateLocked()
	}
	p.mu.Unlock()
	if err != nil {
		p.log.Warn("sfu: held subscriber offer", "err", err)
	}
	p.deliverOffer(offer)
}

// Close closes both PeerConnections, ends the Peer's published Tracks and
// subscriptions, and waits for all of the Peer's goroutines.
func (p *Peer) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	pub := p.pub
	downTracks := p.downTracks
	p.downTracks = make(map[*DownTrack]*webrtc.RTPSender)
	p.mu.Unlock()

	for d := range downTracks {
		d.track.removeDownTrack(d)
		d.close()
	}
	var errs []error
	if pub != nil {
		if err := pub.Close(); err != nil {
			errs = append(errs, fmt.Errorf("sfu: close publishing connection: %w", err))
		}
	}
	if err := p.sub.Close(); err != nil {
		errs = append(errs, fmt.Errorf("sfu: close subscribing connection: %w", err))
	}
	p.trackMu.Lock()
	tracks := make([]*Track, 0, len(p.tracks))
	for _, t := range p.tracks {
		tracks = append(tracks, t)
	}
	p.trackMu.Unlock()
	for _, t := range tracks {
		t.Close()
	}
	p.wg.Wait()
	p.e.removePeer(p)
	return errors.Join(errs...)
}
