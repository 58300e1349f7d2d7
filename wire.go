package crossbar

import (
	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar/sfu"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// The protocol's edge on the way out: what clients are told, as
// signaling messages, of the session's events and of what concerns one
// of them alone (notices). The core speaks in events and notices; only
// this file, serve.go (requests and replies) and state.go (a joining
// client's view) know the wire format.

// A notice is news for one connection's client alone.
type notice interface {
	message() *signaling.Message
}

// The notices.
type (
	// subscriberOffer: the engine's offer for the client's subscribing
	// peer connection.
	subscriberOffer struct {
		sdp string
		n   uint64 // its number
	}
	// layersWanted: which simulcast layers of a stream the client
	// publishes its subscribers want; it pauses the others.
	layersWanted struct {
		streamID string
		rids     []string
		active   []bool
	}
	// videoQuality: the video of a subscription stopped because not even
	// its lowest layer fits the client's bandwidth (off), or came back.
	videoQuality struct {
		streamID string
		off      bool
	}
	// subscriptionFailed: a subscription ended for err.
	subscriptionFailed struct {
		streamID string
		err      error
	}
	// peerSubscribed and peerUnsubscribed tell a relayed stream's
	// publisher that a connection subscribed to it or left: the
	// publisher's client then negotiates with it directly.
	peerSubscribed struct {
		connectionID, streamID string
		audio, video           *bool
	}
	peerUnsubscribed struct{ connectionID, streamID string }
	// pathLost: the engine hears nothing from one of the client's peer
	// connections any more (ICE disconnected).
	pathLost struct{ pc sfu.PCKind }
	// relayed carries a relayed stream's negotiation from one end to
	// the other.
	relayed struct {
		from      *Connection
		streamID  string
		sdp       string
		candidate *webrtc.ICECandidateInit
	}
)

func (n subscriberOffer) message() *signaling.Message {
	return &signaling.Message{Type: signaling.TypeSubscriberOffer, SDP: n.sdp, Negotiation: n.n}
}

func (n layersWanted) message() *signaling.Message {
	m := &signaling.Message{Type: signaling.TypeLayers, StreamID: n.streamID}
	for i, rid := range n.rids {
		if rid != "" {
			m.Layers = append(m.Layers, signaling.Layer{RID: rid, Active: n.active[i]})
		}
	}
	return m
}

func (n videoQuality) message() *signaling.Message {
	t := signaling.TypeVideoEnabled
	if n.off {
		t = signaling.TypeVideoDisabled
	}
	return &signaling.Message{Type: t, StreamID: n.streamID, Reason: "quality"}
}

func (n subscriptionFailed) message() *signaling.Message {
	return &signaling.Message{Type: signaling.TypeSubscriptionFailed, StreamID: n.streamID, Error: ClientError(n.err)}
}

func (n peerSubscribed) message() *signaling.Message {
	return &signaling.Message{Type: signaling.TypePeerSubscribed, ConnectionID: n.connectionID, StreamID: n.streamID, Audio: n.audio, Video: n.video}
}

func (n peerUnsubscribed) message() *signaling.Message {
	return &signaling.Message{Type: signaling.TypePeerUnsubscribed, ConnectionID: n.connectionID, StreamID: n.streamID}
}

func (n pathLost) message() *signaling.Message {
	pc := signaling.PCSubscriber
	if n.pc == sfu.PCPublish {
		pc = signaling.PCPublisher
	}
	return &signaling.Message{Type: signaling.TypePathLost, PC: pc}
}

func (n relayed) message() *signaling.Message {
	m := &signaling.Message{Type: signaling.TypeRelay, ConnectionID: n.from.id, StreamID: n.streamID, SDP: n.sdp}
	if c := n.candidate; c != nil {
		m.Candidate = &signaling.ICECandidate{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex}
	}
	return m
}

// tellLocked sends c's client a notice. The caller holds s.mu.
func (s *Session) tellLocked(c *Connection, n notice) { s.sendLocked(c, n.message()) }

// deliverLocked sends the clients the messages that tell of ev, and
// returns how many did not get a signal for being too far behind. The
// caller holds s.mu.
func (s *Session) deliverLocked(ev event) (dropped int) {
	switch ev := ev.(type) {
	case connectionCreated:
		d := ev.c.describe()
		s.announceLocked(ev.c, &signaling.Message{Type: signaling.TypeConnectionCreated, Connection: &d})
	case connectionDestroyed:
		d := ev.c.describe()
		s.announceLocked(ev.c, &signaling.Message{Type: signaling.TypeConnectionDestroyed, Connection: &d, Reason: string(ev.reason)})
	case streamCreated:
		d, from := ev.st.describe(), ev.st.connection.describe()
		s.broadcastLocked(&signaling.Message{Type: signaling.TypeStreamCreated, Stream: &d, Connection: &from})
	case streamDestroyed:
		d := ev.st.describe()
		s.broadcastLocked(&signaling.Message{Type: signaling.TypeStreamDestroyed, Stream: &d, Reason: string(ev.reason)})
	case streamPropertyChanged:
		ch := ev.change
		d := ch.Stream.describe()
		s.broadcastLocked(&signaling.Message{Type: signaling.TypeStreamPropertyChanged, Stream: &d,
			Change: &signaling.PropertyChange{Property: ch.Property, OldValue: wireValue(ch.OldValue), NewValue: wireValue(ch.NewValue)}})
	case muteForced:
		m := &signaling.Message{Type: signaling.TypeMuteForced, Active: &ev.active}
		if ev.st == nil {
			s.broadcastLocked(m)
		} else {
			m.StreamID = ev.st.id
			s.sendLocked(ev.st.connection, m)
		}
	case signalSent:
		return s.deliverSignalLocked(ev)
	case archiveStarted:
		s.broadcastLocked(&signaling.Message{Type: signaling.TypeArchiveStarted, Archive: describeArchive(ev.a)})
	case archiveStopped:
		s.broadcastLocked(&signaling.Message{Type: signaling.TypeArchiveStopped, Archive: describeArchive(ev.a)})
	}
	return 0
}

// signalMessage encodes a signal's message to its recipients; nil if it
// cannot (never: plain strings and numbers).
func signalMessage(ev signalSent) []byte {
	w := &signaling.Signal{Type: ev.sig.Type, Data: ev.sig.Data, Origin: ev.origin, N: ev.n}
	if ev.sig.From != nil {
		w.From = ev.sig.From.id
	}
	b, _ := signaling.Encode(&signaling.Message{Type: signaling.TypeSignal, Signal: w})
	return b
}

// wireValue is a stream property's value as clients know it.
func wireValue(v any) any {
	if d, ok := v.(Dimensions); ok {
		return signaling.Dimensions{Width: d.Width, Height: d.Height}
	}
	return v
}

// deliverSignalLocked sends a signal to its recipient, or to everyone,
// but not to clients too far behind, whom it counts. In a cluster it
// keeps it for clients that move here.
func (s *Session) deliverSignalLocked(ev signalSent) (dropped int) {
	sig := ev.sig
	b := signalMessage(ev)
	if b == nil {
		return 0
	}
	s.logSignalLocked(ev, b)
	if sig.To != nil {
		if !s.sendSignalLocked(sig.To, ev, b) {
			dropped++
		}
		return dropped
	}
	for _, c := range s.conns {
		if !s.sendSignalLocked(c, ev, b) {
			dropped++
		}
	}
	return dropped
}

// connectedLocked returns the "connected" message that answers request re
// of c's client, with the first piece of the session's state for a new
// connection or one that moved here; the other pieces are queued for c. A
// connection resumed here gets only itself: the messages it missed are
// replayed.
func (s *Session) connectedLocked(c *Connection, re uint64, kind attachKind) []byte {
	own := c.describe()
	own.ResumeKey = c.resumeKey
	msg := &signaling.Message{
		Type:         signaling.TypeConnected,
		Re:           re,
		SessionID:    s.info.ID,
		Connection:   &own,
		Capabilities: capabilities(c.token.Role),
		Resumed:      kind != attachNew,
		Moved:        kind == attachMoved,
		ICEServers:   s.srv.clientICEServers(),
		MediaMode:    string(s.info.MediaMode),
		VideoCodec:   s.videoCodecName(),
		E2EE:         s.info.E2EE,
	}
	if kind != attachResumed {
		pieces := splitState(s.stateLocked(c))
		msg.Connections, msg.Streams, msg.More = pieces[0].Connections, pieces[0].Streams, len(pieces) > 1
		for _, a := range s.recordedLocked() {
			msg.Archives = append(msg.Archives, *describeArchive(a))
		}
		for i := 1; i < len(pieces); i++ {
			pieces[i].Type, pieces[i].More = signaling.TypeSessionState, i < len(pieces)-1
			s.sendLocked(c, &pieces[i])
		}
	}
	b, err := signaling.Encode(msg)
	if err != nil {
		s.log.Error("encode failed", "err", err)
	}
	return b
}

func capabilities(r Role) *signaling.Capabilities {
	b := func(a Action) int {
		if r.Can(a) {
			return 1
		}
		return 0
	}
	return &signaling.Capabilities{
		Publish:         b(ActionPublish),
		Subscribe:       b(ActionSubscribe),
		Signal:          b(ActionSignal),
		ForceDisconnect: b(ActionForceDisconnect),
		ForceUnpublish:  b(ActionForceUnpublish),
		ForceMute:       b(ActionForceMute),
	}
}

// goodbyeLocked tells c's client why its connection ended, as best it
// can: a client too far behind does not get it.
func (s *Session) goodbyeLocked(c *Connection, reason Reason) {
	if b, err := signaling.Encode(&signaling.Message{Type: signaling.TypeSessionDisconnected, Reason: string(reason)}); err == nil {
		c.send(b)
	}
}

func (c *Connection) describe() signaling.Connection {
	return signaling.Connection{
		ID:           c.id,
		CreationTime: c.created.UnixMilli(),
		Data:         c.token.Data,
		Role:         string(c.token.Role),
	}
}

// describe must be called with the session lock held.
func (st *Stream) describe() signaling.Stream {
	d := signaling.Stream{
		ID:           st.id,
		ConnectionID: st.connection.id,
		CreationTime: st.created.UnixMilli(),
		Name:         st.name,
		HasAudio:     st.hasAudio,
		HasVideo:     st.hasVideo,
		VideoType:    string(st.videoType),
		HasCaptions:  st.captions,
	}
	if st.dimensions != (Dimensions{}) {
		d.VideoDimensions = &signaling.Dimensions{Width: st.dimensions.Width, Height: st.dimensions.Height}
	}
	return d
}

// describeArchive is what clients are told of an archive.
func describeArchive(a Archive) *signaling.Archive {
	return &signaling.Archive{ID: a.ID, Name: a.Name}
}

// broadcastLocked sends msg to every connection.
func (s *Session) broadcastLocked(msg *signaling.Message) {
	b, err := signaling.Encode(msg)
	if err != nil {
		s.log.Error("encode failed", "err", err)
		return
	}
	for _, c := range s.conns {
		s.queueLocked(c, b)
	}
}

// announceLocked sends a connection event about c to the clients that
// listen, unless c is quiet.
func (s *Session) announceLocked(c *Connection, msg *signaling.Message) {
	if c.quiet {
		return
	}
	b, err := signaling.Encode(msg)
	if err != nil {
		s.log.Error("encode failed", "err", err)
		return
	}
	for _, o := range s.conns {
		if o != c && o.listens {
			s.queueLocked(o, b)
		}
	}
}

// sendLocked sends msg to one connection.
func (s *Session) sendLocked(c *Connection, msg *signaling.Message) {
	b, err := signaling.Encode(msg)
	if err != nil {
		s.log.Error("encode failed", "err", err)
		return
	}
	s.queueLocked(c, b)
}

// queueLocked queues b for c, and ends c if it is too far behind: one client
// that never reads must not hold memory or the session.
func (s *Session) queueLocked(c *Connection, b []byte) {
	if c.send(b) || c.behind {
		return
	}
	c.behind = true
	s.srv.metrics.slowClients.Inc()
	s.log.Warn("client too slow, disconnecting", "connection", c.id)
	// Ending it now would change s.conns under a caller's iteration.
	s.later(func() { _ = s.disconnect(c.id, ReasonNetworkDisconnected) }) // gone already: fine
}
