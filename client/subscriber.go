package client

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar/signaling"
)

// ErrSubscriptionEnded is returned by the methods of a Subscriber whose
// subscription has ended.
var ErrSubscriptionEnded = errors.New("client: subscription ended")

// receiveMTU bounds one received RTP or RTCP packet.
const receiveMTU = 1500

// answerGatherWait bounds the wait for ICE candidates before the client
// answers a subscriber offer.
const answerGatherWait = 500 * time.Millisecond

// SubscribeOptions say what to receive of a stream.
type SubscribeOptions struct {
	// Audio and Video select the stream's tracks to receive; set both for
	// the whole stream. SubscribeToAudio and SubscribeToVideo change them
	// later.
	Audio, Video bool
	// QueueSize is how many packets ReadRTP may fall behind by before
	// packets are dropped; default 1024.
	QueueSize int
	// PreferredWidth and PreferredHeight ask for the simulcast layer
	// closest to, and at least, that size; zero asks for the highest.
	// SetPreferredResolution changes them later.
	PreferredWidth, PreferredHeight int
	// PreferredFrameRate asks for the fewest temporal layers that give at
	// least that frame rate; zero asks for all. SetPreferredFrameRate
	// changes it later.
	PreferredFrameRate float64
	// Captions receives the stream's captions, as opentok.js's
	// subscribeToCaptions does: events of type signaling.TypeCaption, with the
	// stream's id, while its publisher publishes captions and the session
	// has live captions. SubscribeToCaptions changes it later.
	Captions bool
}

// Subscriber receives one stream on the client's subscriber peer
// connection (in a relayed session, on one with the stream's publisher). Its tracks are read as soon as they arrive, whether or not
// ReadRTP is called: packets that do not fit in the queue are dropped and
// counted.
type Subscriber struct {
	s        *Session
	streamID string
	queue    chan received
	done     chan struct{}

	mu     sync.Mutex
	err    error // why the subscription ended
	codecs map[webrtc.RTPCodecType]webrtc.RTPCodecParameters
	// req is the subscribe request with the options set since, made again
	// on the node the connection moves to (move.go).
	req signaling.Message

	audio, video counters
	// In relayed sessions SubscribeToAudio / SubscribeToVideo act here:
	// the packets of a kind turned off are dropped uncounted.
	audioOff, videoOff atomic.Bool
	dropped            atomic.Uint64
}

// received is one queued packet.
type received struct {
	pkt  *rtp.Packet
	kind webrtc.RTPCodecType
}

// counters count what arrived on the tracks of one kind.
type counters struct{ packets, bytes atomic.Uint64 }

// TrackStats count what arrived on a subscription's tracks of one kind.
type TrackStats struct {
	Packets uint64 // RTP packets
	Bytes   uint64 // RTP bytes, headers included
}

// SubscriberStats count what a subscription received.
type SubscriberStats struct {
	// Audio and Video count every packet that arrived on the tracks,
	// read or not.
	Audio, Video TrackStats
	// Dropped counts packets that arrived while the ReadRTP queue was full.
	Dropped uint64
}

// Subscribe subscribes to a stream of the session. The server then offers
// the stream's tracks on the client's subscriber peer connection (created
// on the first offer), and the client answers; the packets are read with
// ReadRTP. In a relayed session the stream's publisher offers them on a
// peer connection of this subscription's own.
func (s *Session) Subscribe(ctx context.Context, streamID string, opts SubscribeOptions) (*Subscriber, error) {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	sub := &Subscriber{
		s:        s,
		streamID: streamID,
		queue:    make(chan received, opts.QueueSize),
		done:     make(chan struct{}),
		codecs:   map[webrtc.RTPCodecType]webrtc.RTPCodecParameters{},
	}
	if s.Relayed() {
		sub.audioOff.Store(!opts.Audio)
		sub.videoOff.Store(!opts.Video)
	}
	m := &s.media
	m.mu.Lock()
	switch {
	case m.closed:
		m.mu.Unlock()
		return nil, ErrDisconnected
	case m.subscribers[streamID] != nil:
		m.mu.Unlock()
		return nil, fmt.Errorf("client: subscribe to stream %s: already subscribed", streamID)
	}
	if m.subscribers == nil {
		m.subscribers = map[string]*Subscriber{}
	}
	m.subscribers[streamID] = sub
	m.mu.Unlock()
	msg := &signaling.Message{Type: signaling.TypeSubscribe, StreamID: streamID, Audio: &opts.Audio, Video: &opts.Video, Captions: &opts.Captions}
	if opts.PreferredWidth > 0 || opts.PreferredHeight > 0 {
		msg.PreferredResolution = &signaling.Dimensions{Width: opts.PreferredWidth, Height: opts.PreferredHeight}
	}
	if opts.PreferredFrameRate > 0 {
		msg.PreferredFrameRate = &opts.PreferredFrameRate
	}
	sub.req = *msg
	if _, err := s.request(ctx, msg); err != nil {
		s.removeSubscriber(sub)
		sub.end(err)
		return nil, fmt.Errorf("client: subscribe to stream %s: %w", streamID, err)
	}
	return sub, nil
}

// subscriptionFailed ends the subscription the server gave up on: this
// client cannot receive the stream's codec. Its error wraps
// ErrSubscriptionEnded and the server's *signaling.Error (code 1502).
func (s *Session) subscriptionFailed(msg *signaling.Message) {
	m := &s.media
	m.mu.Lock()
	sub := m.subscribers[msg.StreamID]
	m.mu.Unlock()
	if sub == nil {
		return
	}
	cause := errors.New("no reason given")
	if msg.Error != nil {
		cause = msg.Error
	}
	s.removeSubscriber(sub)
	sub.end(fmt.Errorf("%w: the server ended the subscription to stream %s: %w", ErrSubscriptionEnded, msg.StreamID, cause))
}

// removeSubscriber stops routing tracks and events to sub.
func (s *Session) removeSubscriber(sub *Subscriber) {
	m := &s.media
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.subscribers[sub.streamID] == sub {
		delete(m.subscribers, sub.streamID)
	}
}

// StreamID returns the id of the subscribed stream.
func (sub *Subscriber) StreamID() string { return sub.streamID }

// ReadRTP returns the next packet of the stream and whether it is audio or
// video. Once the subscription ended and the queue is empty, it returns an
// ErrSubscriptionEnded (or ErrDisconnected) error.
func (sub *Subscriber) ReadRTP(ctx context.Context) (*rtp.Packet, webrtc.RTPCodecType, error) {
	select {
	case r := <-sub.queue:
		return r.pkt, r.kind, nil
	default:
	}
	select {
	case r := <-sub.queue:
		return r.pkt, r.kind, nil
	case <-sub.done:
		select {
		case r := <-sub.queue:
			return r.pkt, r.kind, nil
		default:
			return nil, 0, sub.Err()
		}
	case <-ctx.Done():
		return nil, 0, fmt.Errorf("client: read stream %s: %w", sub.streamID, ctx.Err())
	}
}

// Codec returns the negotiated codec of the stream's track of the given
// kind, once that track arrived.
func (sub *Subscriber) Codec(kind webrtc.RTPCodecType) (webrtc.RTPCodecParameters, bool) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	c, ok := sub.codecs[kind]
	return c, ok
}

// Stats returns what the subscription received so far.
func (sub *Subscriber) Stats() SubscriberStats {
	return SubscriberStats{
		Audio:   TrackStats{Packets: sub.audio.packets.Load(), Bytes: sub.audio.bytes.Load()},
		Video:   TrackStats{Packets: sub.video.packets.Load(), Bytes: sub.video.bytes.Load()},
		Dropped: sub.dropped.Load(),
	}
}

// Done is closed when the subscription ends: Unsubscribe, the stream
// ended, the session ended, or the server ended it because this client
// cannot receive the stream's codec (its answer left the codec out; the
// error then holds a *signaling.Error with code 1502). Err says why.
func (sub *Subscriber) Done() <-chan struct{} { return sub.done }

// Err returns nil while the subscription is live, and then why it ended.
func (sub *Subscriber) Err() error {
	select {
	case <-sub.done:
		sub.mu.Lock()
		defer sub.mu.Unlock()
		return sub.err
	default:
		return nil
	}
}

// end ends the subscription with err.
func (sub *Subscriber) end(err error) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	select {
	case <-sub.done:
	default:
		sub.err = err
		close(sub.done)
	}
}

// SubscribeToAudio stops or resumes the stream's audio, as opentok.js's
// subscribeToAudio does. In a relayed session the publisher keeps sending
// it; the client drops it.
func (sub *Subscriber) SubscribeToAudio(ctx context.Context, on bool) error {
	return sub.subscribeTo(ctx, webrtc.RTPCodecTypeAudio, on)
}

// SubscribeToVideo stops or resumes the stream's video, as opentok.js's
// subscribeToVideo does.
func (sub *Subscriber) SubscribeToVideo(ctx context.Context, on bool) error {
	return sub.subscribeTo(ctx, webrtc.RTPCodecTypeVideo, on)
}

func (sub *Subscriber) subscribeTo(ctx context.Context, kind webrtc.RTPCodecType, on bool) error {
	if err := sub.Err(); err != nil {
		return err
	}
	if sub.s.Relayed() {
		sub.off(kind).Store(!on)
		return nil
	}
	msg := &signaling.Message{Type: signaling.TypeSubscription, StreamID: sub.streamID}
	if kind == webrtc.RTPCodecTypeAudio {
		msg.Audio = &on
	} else {
		msg.Video = &on
	}
	if _, err := sub.s.request(ctx, msg); err != nil {
		return fmt.Errorf("client: set %s of subscription to stream %s to %v: %w", kind, sub.streamID, on, err)
	}
	sub.remember(msg)
	return nil
}

// SubscribeToCaptions starts or stops receiving the stream's captions
// (events of type signaling.TypeCaption), as opentok.js's subscribeToCaptions does.
func (sub *Subscriber) SubscribeToCaptions(ctx context.Context, on bool) error {
	msg := &signaling.Message{Type: signaling.TypeSubscription, StreamID: sub.streamID, Captions: &on}
	return sub.update(ctx, msg, fmt.Sprintf("captions %v", on))
}

// SubscribedToCaptions reports whether the subscriber receives the
// stream's captions, as opentok.js's isSubscribedToCaptions does.
func (sub *Subscriber) SubscribedToCaptions() bool {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.req.Captions != nil && *sub.req.Captions
}

// remember merges the options of a subscription request that succeeded
// into req.
func (sub *Subscriber) remember(msg *signaling.Message) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	r := &sub.req
	r.Audio = cmp.Or(msg.Audio, r.Audio)
	r.Video = cmp.Or(msg.Video, r.Video)
	r.Captions = cmp.Or(msg.Captions, r.Captions)
	r.PreferredResolution = cmp.Or(msg.PreferredResolution, r.PreferredResolution)
	r.PreferredFrameRate = cmp.Or(msg.PreferredFrameRate, r.PreferredFrameRate)
}

// SetPreferredResolution asks the server for the simulcast layer closest
// to, and at least, width x height (the highest if none is that large);
// 0 x 0 asks for the highest. The server still sends less when the
// client's bandwidth is short.
func (sub *Subscriber) SetPreferredResolution(ctx context.Context, width, height int) error {
	msg := &signaling.Message{Type: signaling.TypeSubscription, StreamID: sub.streamID,
		PreferredResolution: &signaling.Dimensions{Width: width, Height: height}}
	return sub.update(ctx, msg, fmt.Sprintf("preferred resolution %dx%d", width, height))
}

// SetPreferredFrameRate asks the server for the fewest temporal layers
// (codecs that have them: VP8) that give at least fps frames a second; 0
// asks for all of them.
func (sub *Subscriber) SetPreferredFrameRate(ctx context.Context, fps float64) error {
	msg := &signaling.Message{Type: signaling.TypeSubscription, StreamID: sub.streamID, PreferredFrameRate: &fps}
	return sub.update(ctx, msg, fmt.Sprintf("preferred frame rate %v", fps))
}

func (sub *Subscriber) update(ctx context.Context, msg *signaling.Message, what string) error {
	if err := sub.Err(); err != nil {
		return err
	}
	if _, err := sub.s.request(ctx, msg); err != nil {
		return fmt.Errorf("client: set %s of subscription to stream %s: %w", what, sub.streamID, err)
	}
	sub.remember(msg)
	return nil
}

// Unsubscribe ends the subscription. The server then renegotiates the
// subscriber peer connection without the stream's tracks.
func (sub *Subscriber) Unsubscribe(ctx context.Context) error {
	if sub.Err() != nil {
		return nil
	}
	if _, err := sub.s.request(ctx, &signaling.Message{Type: signaling.TypeUnsubscribe, StreamID: sub.streamID}); err != nil {
		return fmt.Errorf("client: unsubscribe from stream %s: %w", sub.streamID, err)
	}
	sub.s.removeSubscriber(sub)
	sub.end(fmt.Errorf("%w: unsubscribed from stream %s", ErrSubscriptionEnded, sub.streamID))
	sub.s.media.enqueue(func() { sub.s.closeRelays(func(k relayKey) bool { return k.streamID == sub.streamID }) })
	return nil
}

// off returns the flag that turns off the packets of a kind.
func (sub *Subscriber) off(kind webrtc.RTPCodecType) *atomic.Bool {
	if kind == webrtc.RTPCodecTypeAudio {
		return &sub.audioOff
	}
	return &sub.videoOff
}

// deliver counts and queues one packet of the subscription's tracks. It
// reports false once the subscription ended.
func (sub *Subscriber) deliver(kind webrtc.RTPCodecType, b []byte) bool {
	select {
	case <-sub.done:
		return false
	default:
	}
	if sub.off(kind).Load() {
		return true
	}
	c := &sub.audio
	if kind == webrtc.RTPCodecTypeVideo {
		c = &sub.video
	}
	c.packets.Add(1)
	c.bytes.Add(uint64(len(b)))
	pkt := &rtp.Packet{}
	if err := pkt.Unmarshal(bytes.Clone(b)); err != nil {
		return true // counted, but there is nothing to read
	}
	select {
	case sub.queue <- received{pkt: pkt, kind: kind}:
	default:
		sub.dropped.Add(1)
	}
	return true
}

// answerSubscriberOffer answers a server offer for the subscriber peer
// connection. It runs on the media goroutine, one offer at a time. When
// it fails, the subscriber peer connection is unusable and every
// subscription ends with the error.
func (s *Session) answerSubscriberOffer(sdp string, n uint64) {
	err := s.applySubscriberOffer(sdp, n)
	if err == nil || errors.Is(err, ErrDisconnected) {
		return
	}
	m := &s.media
	m.mu.Lock()
	subs := m.subscribers
	m.subscribers = nil
	m.mu.Unlock()
	for _, sub := range subs {
		sub.end(err)
	}
}

func (s *Session) applySubscriberOffer(sdp string, n uint64) error {
	pc, tr, err := s.peerConnection(signaling.PCSubscriber)
	if err != nil {
		return err
	}
	tr.hold() // an offer may restart ICE: new candidates wait for the answer
	sent, err := answer(pc, sdp)
	if err != nil {
		return fmt.Errorf("client: subscriber offer from the server: %w", err)
	}
	msg := &signaling.Message{Type: signaling.TypeAnswer, SDP: sent, Negotiation: n}
	err = s.sendAnswer(msg)
	tr.start(sent)
	return err
}

// sendAnswer sends a subscriber answer. One whose link is lost before the
// reply is sent again once the link is resumed (resendAnswer): it may
// never have arrived, and the server knows it by its number if it did.
func (s *Session) sendAnswer(msg *signaling.Message) error {
	ctx, cancel := context.WithTimeout(context.Background(), negotiationTimeout)
	defer cancel()
	_, err := s.request(ctx, msg)
	var refused *signaling.Error
	if err != nil && !errors.As(err, &refused) && !s.isEnded() {
		m := &s.media
		m.mu.Lock()
		m.unanswered = msg
		m.mu.Unlock()
		return fmt.Errorf("client: send subscriber answer: %w", ErrDisconnected)
	}
	if err != nil {
		return fmt.Errorf("client: send subscriber answer: %w", err)
	}
	return nil
}

// resendAnswer sends again, on the media goroutine, the subscriber answer
// whose link was lost.
func (s *Session) resendAnswer() {
	m := &s.media
	m.mu.Lock()
	msg := m.unanswered
	m.unanswered = nil
	m.mu.Unlock()
	if msg != nil {
		m.enqueue(func() { _ = s.sendAnswer(msg) })
	}
}

// answer applies an offer to pc and returns its answer, set as the local
// description.
func answer(pc *webrtc.PeerConnection, offer string) (string, error) {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("apply offer: %w", err)
	}
	a, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("make answer: %w", err)
	}
	return setLocal(pc, a)
}

// setLocal sets desc as pc's local description and returns it with the
// ICE candidates gathered within answerGatherWait; later ones are
// trickled. Were they all trickled, the other end's ICE agent would learn
// this end's address from its checks first, as a peer-reflexive candidate,
// which Pion nominates only after a second.
func setLocal(pc *webrtc.PeerConnection, desc webrtc.SessionDescription) (string, error) {
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(desc); err != nil {
		return "", fmt.Errorf("apply local %s: %w", desc.Type, err)
	}
	timer := time.NewTimer(answerGatherWait)
	select {
	case <-gathered:
	case <-timer.C:
	}
	timer.Stop()
	return pc.LocalDescription().SDP, nil
}

// onSubscriberTrack reads a track of the subscriber peer connection: its
// packets go to the subscription of its stream, the msid stream id.
func (s *Session) onSubscriberTrack(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	s.readTrack(remote.StreamID(), remote, receiver)
}

// readTrack reads a remote track of a stream, on Pion's goroutine, until
// the track ends: its packets go to the subscription of the stream, and its
// receiver's RTCP is read so that the interceptors see it.
func (s *Session) readTrack(streamID string, remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	m := &s.media
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.wg.Add(2)
	sub := m.subscribers[streamID]
	m.mu.Unlock()
	defer m.wg.Done()
	go func() {
		defer m.wg.Done()
		buf := make([]byte, receiveMTU)
		for {
			if _, _, err := receiver.Read(buf); err != nil {
				return
			}
		}
	}()
	kind := remote.Kind()
	if sub != nil {
		sub.mu.Lock()
		sub.codecs[kind] = remote.Codec()
		sub.mu.Unlock()
	}
	buf := make([]byte, receiveMTU)
	for {
		n, _, err := remote.Read(buf)
		if err != nil {
			return
		}
		if sub == nil || !sub.deliver(kind, buf[:n]) {
			m.unrouted.Add(1)
		}
	}
}
