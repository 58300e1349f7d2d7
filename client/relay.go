package client

import (
	"context"
	"fmt"

	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar/signaling"
)

// In a relayed session media goes peer to peer: each stream has one peer
// connection per subscriber, between its publisher and that subscriber,
// negotiated with "relay" messages that the server carries. The publisher
// offers; the subscriber answers. See PROTOCOL.md, "Media in relayed
// sessions".

// relayKey names a relayed peer connection: a stream and the other end,
// which is the stream's subscriber when this client publishes it and its
// publisher otherwise.
type relayKey struct{ streamID, peerID string }

// relayPeer is one relayed peer connection.
type relayPeer struct {
	pc *webrtc.PeerConnection
	tr *trickle
}

// publishAnnounced publishes p's stream without negotiating media with the
// server, which announces it at once: in a relayed session peerSubscribed
// then brings each subscriber; a signal-only stream has no media at all.
func (s *Session) publishAnnounced(ctx context.Context, p *Publisher) (*Publisher, error) {
	reply, err := s.request(ctx, &signaling.Message{Type: signaling.TypePublish, Stream: p.opts.describe()})
	if err != nil {
		return nil, fmt.Errorf("client: publish: %w", err)
	}
	if reply.StreamID == "" {
		return nil, fmt.Errorf("client: publish: the server's reply has no stream id")
	}
	p.id = reply.StreamID
	if err := s.addPublisher(p); err != nil {
		return nil, err
	}
	return p, nil
}

// newRelay makes and registers the peer connection for key. It returns
// nil when the media side is closed or there already is one.
func (s *Session) newRelay(key relayKey) (*relayPeer, error) {
	m := &s.media
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.relays[key] != nil {
		return nil, nil
	}
	pc, tr, err := s.newPeerConnectionLocked(func(c *signaling.ICECandidate) *signaling.Message {
		return &signaling.Message{Type: signaling.TypeRelay, ConnectionID: key.peerID, StreamID: key.streamID, Candidate: c}
	})
	if err != nil {
		return nil, fmt.Errorf("client: create the peer connection of stream %s with %s: %w", key.streamID, key.peerID, err)
	}
	if m.relays == nil {
		m.relays = map[relayKey]*relayPeer{}
	}
	r := &relayPeer{pc: pc, tr: tr}
	m.relays[key] = r
	return r, nil
}

// closeRelays closes the relayed peer connections whose keys match. It
// runs on the media goroutine, which negotiates them.
func (s *Session) closeRelays(match func(relayKey) bool) {
	m := &s.media
	m.mu.Lock()
	var closing []*relayPeer
	for k, r := range m.relays {
		if match(k) {
			closing = append(closing, r)
			delete(m.relays, k)
		}
	}
	m.mu.Unlock()
	for _, r := range closing {
		_ = r.pc.Close()
	}
}

// sendDescription sends the other end of a relayed peer connection its
// session description, then the candidates it does not hold.
func (s *Session) sendDescription(key relayKey, r *relayPeer, sdp string) error {
	ctx, cancel := context.WithTimeout(context.Background(), negotiationTimeout)
	defer cancel()
	if _, err := s.request(ctx, &signaling.Message{Type: signaling.TypeRelay, ConnectionID: key.peerID, StreamID: key.streamID, SDP: sdp}); err != nil {
		return err
	}
	r.tr.start(sdp)
	return nil
}

// peerSubscribed opens a peer connection from one of our streams to a new
// subscriber and offers it the stream's tracks. It runs on the media
// goroutine. A subscriber of a stream Publish has not registered yet waits
// for it.
func (s *Session) peerSubscribed(key relayKey) {
	m := &s.media
	m.mu.Lock()
	p := m.publishers[key.streamID]
	if p == nil && !m.closed {
		if m.early == nil {
			m.early = map[string][]string{}
		}
		m.early[key.streamID] = append(m.early[key.streamID], key.peerID)
	}
	m.mu.Unlock()
	if p == nil || p.Err() != nil || p.opts.SignalOnly {
		return
	}
	r, err := s.newRelay(key)
	if r == nil || err != nil {
		return
	}
	if err := s.offerRelay(key, r, p); err != nil {
		s.closeRelays(func(k relayKey) bool { return k == key })
	}
}

// offerRelay adds p's tracks to a relayed peer connection and offers them.
// Each track is shared by all of the stream's peer connections.
func (s *Session) offerRelay(key relayKey, r *relayPeer, p *Publisher) error {
	p.mu.Lock()
	var tracks []webrtc.TrackLocal
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if t := p.tracks[kind]; t != nil {
			tracks = append(tracks, t.local())
		}
	}
	p.mu.Unlock()
	for _, t := range tracks {
		tc, err := r.pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return err
		}
		sender := tc.Sender()
		if !s.media.goTracked(func() { p.readRTCP(sender) }) {
			return ErrDisconnected
		}
	}
	offer, err := r.pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	sdp, err := setLocal(r.pc, offer)
	if err != nil {
		return err
	}
	return s.sendDescription(key, r, sdp)
}

// relay applies a "relay" message from the other end of a relayed peer
// connection: a subscriber's answer or candidate for one of our streams,
// or a publisher's offer or candidate for a stream we subscribe to. It
// runs on the media goroutine.
func (s *Session) relay(msg *signaling.Message) {
	key := relayKey{streamID: msg.StreamID, peerID: msg.ConnectionID}
	m := &s.media
	m.mu.Lock()
	r := m.relays[key]
	ours := m.publishers[key.streamID] != nil
	sub := m.subscribers[key.streamID]
	m.mu.Unlock()
	var err error
	switch {
	case msg.Candidate != nil && r != nil:
		c := msg.Candidate
		err = r.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex})
	case msg.SDP == "":
	case ours && r != nil:
		err = r.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: msg.SDP})
	case !ours && sub != nil:
		err = s.answerRelay(key, r, msg.SDP)
	}
	if err != nil {
		// The peer connection cannot carry the stream: end it, and the
		// subscription if it is ours.
		s.closeRelays(func(k relayKey) bool { return k == key })
		if sub != nil && !ours {
			sub.end(fmt.Errorf("%w: stream %s from %s: %v", ErrSubscriptionEnded, key.streamID, key.peerID, err))
		}
	}
}

// answerRelay answers a publisher's offer of a stream we subscribe to,
// making the peer connection on the first offer.
func (s *Session) answerRelay(key relayKey, r *relayPeer, offer string) error {
	if r == nil {
		var err error
		if r, err = s.newRelay(key); r == nil || err != nil {
			return err
		}
		r.pc.OnTrack(func(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
			s.readTrack(key.streamID, remote, receiver)
		})
	}
	sdp, err := answer(r.pc, offer)
	if err != nil {
		return err
	}
	return s.sendDescription(key, r, sdp)
}

// mutedByModerator mutes the audio of our stream in a relayed session when
// a moderator muted it (muteForced) or every stream (its hasAudio turned
// false): the server cannot stop it there. PublishAudio(true) unmutes it.
func (s *Session) mutedByModerator(msg *signaling.Message) {
	if !s.Relayed() {
		return
	}
	id := msg.StreamID
	if msg.Type == signaling.TypeStreamPropertyChanged {
		if msg.Stream == nil || msg.Change == nil || msg.Change.Property != "hasAudio" || msg.Stream.HasAudio {
			return
		}
		id = msg.Stream.ID
	}
	m := &s.media
	m.mu.Lock()
	p := m.publishers[id]
	m.mu.Unlock()
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := p.tracks[webrtc.RTPCodecTypeAudio]; t != nil {
		t.on = false
	}
}
