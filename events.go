package crossbar

// Reason says why a connection or stream ended. The values are OpenTok's,
// plus a few for cases OpenTok has no name for.
type Reason string

// Reasons.
const (
	ReasonClientDisconnected  Reason = "clientDisconnected"
	ReasonForceDisconnected   Reason = "forceDisconnected"
	ReasonNetworkDisconnected Reason = "networkDisconnected"
	ReasonTokenRevoked        Reason = "tokenRevoked"
	ReasonSessionClosed       Reason = "sessionClosed"
	ReasonClientUnpublished   Reason = "clientUnpublished"
	ReasonForceUnpublished    Reason = "forceUnpublished"
	ReasonMediaStopped        Reason = "mediaStopped"
)

// Signal is an application message sent in a session.
type Signal struct {
	From *Connection // nil when the host sent it
	To   *Connection // nil when sent to everyone
	Type string
	Data string
}

// StreamPropertyChange reports a stream property that changed: "hasAudio",
// "hasVideo" or "videoDimensions".
type StreamPropertyChange struct {
	Stream   *Stream
	Property string
	OldValue any
	NewValue any
}

// An event is a change in a session that its host and its clients hear
// of. The session's core makes them; the host's callbacks (notify) and the
// clients' messages (deliverLocked, wire.go) are made from them at the
// edges.
type event interface {
	// notify returns the call of the host's callback for the event, or nil
	// if the host set none.
	notify(h *handlers) func()
}

// The session's events.
type (
	connectionCreated   struct{ c *Connection }
	connectionDestroyed struct {
		c      *Connection
		reason Reason
	}
	streamCreated   struct{ st *Stream }
	streamDestroyed struct {
		st     *Stream
		reason Reason
	}
	streamPropertyChanged struct{ change StreamPropertyChange }
	// signalSent: remote is set for a signal another node shared. In a
	// cluster, origin is the node where it was sent and n its number
	// there (move.go).
	signalSent struct {
		sig    Signal
		remote bool
		origin string
		n      uint64
		// shared, if not nil, is sent the outcome of passing the signal
		// to the other nodes (nil if it needs no passing).
		shared chan<- error
	}
	// muteForced: a moderator muted one stream (st), or the whole
	// session (st nil) but the excluded streams, or ended that (active
	// false); remote is set when another node shared it.
	muteForced struct {
		st       *Stream
		active   bool
		excluded []string
		remote   bool
	}
	speakerChanged struct{ st *Stream } // st nil: nobody speaks
	// layoutChanged: a stream's layout classes changed (the host's
	// concern and the other nodes', not the clients').
	layoutChanged struct{ st *Stream }
	// archiveStarted and archiveStopped: an archive of the session
	// started, or stopped or failed; remote is set when another node
	// records it (archivenode.go).
	archiveStarted struct {
		a      Archive
		remote bool
	}
	archiveStopped struct {
		a      Archive
		remote bool
	}
	// captionsStopped: the session's captions stopped or failed (the
	// host's concern alone).
	captionsStopped struct{ c Captions }
	// broadcastStopped: a broadcast of the session stopped or failed
	// (the host's concern alone).
	broadcastStopped struct{ b Broadcast }
)

func (e connectionCreated) notify(h *handlers) func() { return bind(h.connectionCreated, e.c) }
func (e streamCreated) notify(h *handlers) func()     { return bind(h.streamCreated, e.st) }
func (e signalSent) notify(h *handlers) func()        { return bind(h.signal, e.sig) }
func (e speakerChanged) notify(h *handlers) func()    { return bind(h.activeSpeaker, e.st) }
func (muteForced) notify(*handlers) func()            { return nil }
func (layoutChanged) notify(*handlers) func()         { return nil }
func (e archiveStarted) notify(h *handlers) func()    { return bind(h.archiveStarted, e.a) }
func (e archiveStopped) notify(h *handlers) func()    { return bind(h.archiveStopped, e.a) }
func (e captionsStopped) notify(h *handlers) func()   { return bind(h.captionsStopped, e.c) }
func (e broadcastStopped) notify(h *handlers) func()  { return bind(h.broadcastStopped, e.b) }

func (e streamPropertyChanged) notify(h *handlers) func() {
	return bind(h.streamPropertyChanged, e.change)
}

func (e connectionDestroyed) notify(h *handlers) func() {
	if f := h.connectionDestroyed; f != nil {
		return func() { f(e.c, e.reason) }
	}
	return nil
}

func (e streamDestroyed) notify(h *handlers) func() {
	if f := h.streamDestroyed; f != nil {
		return func() { f(e.st, e.reason) }
	}
	return nil
}

// bind returns the call of f with x, or nil if f is nil.
func bind[T any](f func(T), x T) func() {
	if f == nil {
		return nil
	}
	return func() { f(x) }
}

// emitLocked tells the session's clients, its host and its webhook of ev. It returns
// how many clients did not get a signal for being too far behind. The
// caller holds s.mu.
func (s *Session) emitLocked(ev event) (dropped int) {
	dropped = s.deliverLocked(ev)
	s.recordLocked(ev)
	s.captionLocked(ev)
	s.castLocked(ev)
	if f := ev.notify(&s.h); f != nil {
		s.events.post(f)
	}
	if s.srv.hooks.monitoring() {
		if cb := s.webhookLocked(ev); cb != nil {
			s.srv.hooks.post(cb)
		}
	}
	if s.clustered() {
		s.shareLocked(ev)
	}
	return dropped
}

// handlers are the host's callbacks on a session.
type handlers struct {
	connectionCreated     func(*Connection)
	connectionDestroyed   func(*Connection, Reason)
	streamCreated         func(*Stream)
	streamDestroyed       func(*Stream, Reason)
	streamPropertyChanged func(StreamPropertyChange)
	signal                func(Signal)
	activeSpeaker         func(*Stream)
	archiveStarted        func(Archive)
	archiveStopped        func(Archive)
	archiveStatus         func(Archive)
	captionsStopped       func(Captions)
	broadcastStopped      func(Broadcast)
}
