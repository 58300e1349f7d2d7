package crossbar

import (
	"fmt"

	"github.com/pion/webrtc/v3"
)

// In a relayed session media goes peer to peer: the server keeps the
// session's state and carries the negotiation between each publisher and
// each of its subscribers, and nothing else.

// publishWithoutMedia publishes a stream whose media does not go through
// the server: it is live at once. In a relayed session its media will flow
// to each subscriber directly; a signal-only stream of a routed session
// (Config.SignalOnlyStreams) has a publisher without tracks, which
// forwards nothing.
func (s *Session) publishWithoutMedia(c *Connection, spec streamSpec) (string, error) {
	st, err := newStream(c, spec)
	if err != nil {
		return "", err
	}
	if s.info.MediaMode == Routed {
		st.pub = &Publisher{stream: st}
	}
	s.mu.Lock()
	defer s.unlock()
	if err := s.checkStreamLimitLocked(c); err != nil {
		return "", err
	}
	s.addStreamLocked(st)
	return st.id, nil
}

// relayRequest is a session description or an ICE candidate for the other
// end of a relayed stream's link.
type relayRequest struct {
	to        string // connection id
	streamID  string
	sdp       string
	candidate *webrtc.ICECandidateInit
}

// relay carries a session description or an ICE candidate between the
// publisher of a stream and one of its subscribers. The publisher offers and
// the subscriber answers.
func (s *Session) relay(c *Connection, r relayRequest) error {
	if s.info.MediaMode != Relayed {
		return fmt.Errorf("%w: session %s is routed: negotiate with the server", ErrBadRequest, s.info.ID)
	}
	if r.sdp == "" && r.candidate == nil {
		return fmt.Errorf("%w: relay needs sdp or candidate", ErrBadRequest)
	}
	s.mu.Lock()
	defer s.unlock()
	st, ok := s.streams[r.streamID]
	if !ok {
		return fmt.Errorf("%w: %q", ErrStreamNotFound, r.streamID)
	}
	peer, ok := s.conns[r.to]
	if !ok {
		return fmt.Errorf("%w: %q", ErrConnectionNotFound, r.to)
	}
	if err := relayAllowed(st, c, peer); err != nil {
		return err
	}
	if peer.remote() {
		if err := s.srv.busUp(); err != nil {
			return err
		}
		s.sendToNodes(nodeMessage{Kind: kindRelay, Relay: &relayRecord{From: c.id, To: peer.id, Stream: st.id, SDP: r.sdp, Candidate: r.candidate}}, nil)
		return nil
	}
	s.tellLocked(peer, relayed{from: c, streamID: st.id, sdp: r.sdp, candidate: r.candidate})
	return nil
}

// relayAllowed returns an error unless from and to are the two ends of a
// relayed stream's link: its publisher and one of its subscribers.
func relayAllowed(st *Stream, from, to *Connection) error {
	publisherToSubscriber := st.connection == from && to.media.subs[st.id] != nil
	subscriberToPublisher := st.connection == to && from.media.subs[st.id] != nil
	if !publisherToSubscriber && !subscriberToPublisher {
		return fmt.Errorf("%w: connection %s neither publishes stream %s to %s nor subscribes to it", ErrBadRequest, from.id, st.id, to.id)
	}
	return nil
}

// In a cluster, a relayed stream's publisher and subscriber may be served
// by different nodes. Every node keeps every relayed subscription (each
// counts towards the session's subscription limit everywhere), and the
// node that serves one end of a link passes on what the other end says.

// relayRecord is a relayed stream's subscription, or a step of its
// negotiation, crossing nodes.
type relayRecord struct {
	From      string                   `json:"from"` // the connection that subscribed or says something
	To        string                   `json:"to,omitempty"`
	Stream    string                   `json:"stream"`
	SDP       string                   `json:"sdp,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	Audio     *bool                    `json:"audio,omitempty"`
	Video     *bool                    `json:"video,omitempty"`
}

// relaySubscribedLocked records c's subscription to a relayed stream and
// tells its publisher, here or through the other nodes.
func (s *Session) relaySubscribedLocked(c *Connection, sub *Subscriber, audio, video *bool) {
	st := sub.stream
	c.media.addSub(sub)
	s.tellLocked(st.connection, peerSubscribed{connectionID: c.id, streamID: st.id, audio: audio, video: video})
	if s.clustered() && !c.remote() {
		s.sendToNodes(nodeMessage{Kind: kindRelaySubscribe, Relay: &relayRecord{From: c.id, Stream: st.id, Audio: audio, Video: video}}, nil)
	}
}

// relayUnsubscribedLocked tells the publisher of the relayed stream st,
// here or through the other nodes, that c unsubscribed.
func (s *Session) relayUnsubscribedLocked(c *Connection, st *Stream) {
	s.tellLocked(st.connection, peerUnsubscribed{connectionID: c.id, streamID: st.id})
	if s.clustered() && !c.remote() {
		s.sendToNodes(nodeMessage{Kind: kindRelayUnsubscribe, Relay: &relayRecord{From: c.id, Stream: st.id}}, nil)
	}
}

// applyRelayLocked carries out what a client of another node did with a
// relayed stream.
func (s *Session) applyRelayLocked(kind string, r *relayRecord) {
	if r == nil {
		return
	}
	from, st := s.conns[r.From], s.streams[r.Stream]
	if from == nil || !from.remote() || st == nil || st.pub != nil {
		return
	}
	switch kind {
	case kindRelaySubscribe:
		if from.media.subs[st.id] == nil {
			s.relaySubscribedLocked(from, &Subscriber{stream: st, conn: from}, r.Audio, r.Video)
		}
	case kindRelayUnsubscribe:
		if from.media.subs[st.id] != nil {
			delete(from.media.subs, st.id)
			s.relayUnsubscribedLocked(from, st)
		}
	case kindRelay:
		if to := s.conns[r.To]; to != nil && !to.remote() && relayAllowed(st, from, to) == nil {
			s.tellLocked(to, relayed{from: from, streamID: st.id, sdp: r.SDP, candidate: r.Candidate})
		}
	}
}
