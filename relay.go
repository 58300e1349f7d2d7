package crossbar

import (
	"fmt"

	"github.com/crossbar-rtc/crossbar/signaling"
)

// In a relayed session media goes peer to peer: the server keeps the
// session's state and carries the negotiation between each publisher and
// each of its subscribers, and nothing else.

// publishRelayed handles "publish" in a relayed session: the stream is live
// at once; its media will flow to each subscriber directly.
func (s *Session) publishRelayed(c *Connection, m *signaling.Message) (*signaling.Message, error) {
	if m.Stream == nil {
		return nil, fmt.Errorf("%w: publish needs a stream", ErrBadRequest)
	}
	st, err := newStream(c, m.Stream)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.unlock()
	if err := s.checkStreamLimitLocked(c); err != nil {
		return nil, err
	}
	s.addStreamLocked(st)
	return &signaling.Message{Type: signaling.TypeOK, StreamID: st.id}, nil
}

// relay carries a session description or an ICE candidate between the
// publisher of a stream and one of its subscribers. The publisher offers and
// the subscriber answers.
func (s *Session) relay(c *Connection, m *signaling.Message) error {
	if s.info.MediaMode != Relayed {
		return fmt.Errorf("%w: session %s is routed: negotiate with the server", ErrBadRequest, s.info.ID)
	}
	if m.SDP == "" && m.Candidate == nil {
		return fmt.Errorf("%w: relay needs sdp or candidate", ErrBadRequest)
	}
	s.mu.Lock()
	defer s.unlock()
	st, ok := s.streams[m.StreamID]
	if !ok {
		return fmt.Errorf("%w: %q", ErrStreamNotFound, m.StreamID)
	}
	peer, ok := s.conns[m.ConnectionID]
	if !ok {
		return fmt.Errorf("%w: %q", ErrConnectionNotFound, m.ConnectionID)
	}
	publisherToSubscriber := st.connection == c && peer.media.subs[st.id] != nil
	subscriberToPublisher := st.connection == peer && c.media.subs[st.id] != nil
	if !publisherToSubscriber && !subscriberToPublisher {
		return fmt.Errorf("%w: connection %s neither publishes stream %s to %s nor subscribes to it", ErrBadRequest, c.id, st.id, peer.id)
	}
	s.sendLocked(peer, &signaling.Message{Type: signaling.TypeRelay, ConnectionID: c.id, StreamID: st.id, SDP: m.SDP, Candidate: m.Candidate})
	return nil
}
