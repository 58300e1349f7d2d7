package crossbar

import (
	"fmt"

	"github.com/pion/webrtc/v3"
)

// In a relayed session media goes peer to peer: the server keeps the
// session's state and carries the negotiation between each publisher and
// each of its subscribers, and nothing else.

// publishRelayed publishes a stream in a relayed session: it is live at
// once; its media will flow to each subscriber directly.
func (s *Session) publishRelayed(c *Connection, spec streamSpec) (string, error) {
	st, err := newStream(c, spec)
	if err != nil {
		return "", err
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
	publisherToSubscriber := st.connection == c && peer.media.subs[st.id] != nil
	subscriberToPublisher := st.connection == peer && c.media.subs[st.id] != nil
	if !publisherToSubscriber && !subscriberToPublisher {
		return fmt.Errorf("%w: connection %s neither publishes stream %s to %s nor subscribes to it", ErrBadRequest, c.id, st.id, peer.id)
	}
	s.tellLocked(peer, relayed{from: c, streamID: st.id, sdp: r.sdp, candidate: r.candidate})
	return nil
}
