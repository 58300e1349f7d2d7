package crossbar

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crossbar-rtc/crossbar/cluster"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// Session is a room: the crossbar switch between its connections' streams.
// It is live in the process that serves it; its record is in the Store.
type Session struct {
	srv    *Server
	info   SessionInfo
	log    *slog.Logger
	events dispatcher // the host's callbacks, off the session lock
	// engine runs the engine's events (layer demand, video quality, ended
	// tracks, failed peer connections), in order, on a goroutine of its
	// own: media goroutines never wait for the session lock.
	engine dispatcher

	mu      sync.Mutex
	h       handlers
	conns   map[string]*Connection
	streams map[string]*Stream
	closed  bool
	muteAll *muteAll // set by ForceMuteAll until DisableForceMute
	codecs  codecVotes
	// recordings are its archives that record (recorder.go).
	recordings []*recording
	// elsewhere are the archives of the session other nodes record, by
	// id (archivenode.go).
	elsewhere map[string]archiveRecord
	// captions are its live captions while they run (captioner.go).
	captions *captioning
	// casts are its broadcasts that run (broadcaster.go).
	casts []*broadcasting

	// What clients' signals may still cost (signal.go).
	senders   map[string]*senderBudget // by token id and by remote address
	broadcast *rateLimiter             // bytes times recipients; nil: no limit

	// Active speaker detection, while OnActiveSpeakerChanged has a callback.
	speaker     string        // stream id of the active speaker
	speakerStop chan struct{} // closed to stop the detection
	speakerDone chan struct{} // closed when it stopped

	// In a cluster: the queue that writes to the bus, in order, and the
	// connections and streams that ended lately, by id (cluster.go).
	toNodes dispatcher
	gone    graveyard
	// orphanHooks collects the webhooks of a dead node's connection while
	// it is removed (move.go).
	orphanHooks []*sessionEvent
	// The signals delivered here lately, for clients that move here, and
	// the number of the last one sent here (move.go).
	signals signalLog
	sigN    uint64

	// after holds work to do once mu is released: closing media, which
	// may call back into the session.
	after []func()

	// ready is closed once the session has come to life here: the host's
	// OnSession callback ran, and in a cluster the others' state is in.
	ready chan struct{}
}

// await returns s once it is ready (see ready), or ctx's error.
func (s *Session) await(ctx context.Context) (*Session, error) {
	select {
	case <-s.ready:
		return s, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("crossbar: session %s coming to life: %w", s.info.ID, ctx.Err())
	}
}

// later queues f to run when the session lock is released. The caller
// holds s.mu.
func (s *Session) later(f func()) { s.after = append(s.after, f) }

// unlock releases s.mu, then runs the work queued with later.
func (s *Session) unlock() {
	work := s.after
	s.after = nil
	s.mu.Unlock()
	for _, f := range work {
		f()
	}
}

func newSession(srv *Server, info SessionInfo) *Session {
	log := srv.log.With("session", info.ID)
	return &Session{
		srv:       srv,
		info:      info,
		log:       log,
		events:    dispatcher{log: log, what: "session callback"},
		engine:    dispatcher{log: log, what: "engine event"},
		toNodes:   dispatcher{log: log, what: "cluster write"},
		conns:     map[string]*Connection{},
		ready:     make(chan struct{}),
		streams:   map[string]*Stream{},
		senders:   map[string]*senderBudget{},
		broadcast: newBudget(srv.cfg.Signals.Broadcast),
	}
}

// ID returns the session id.
func (s *Session) ID() string { return s.info.ID }

// MediaMode returns whether media is routed through the server or relayed.
func (s *Session) MediaMode() MediaMode { return s.info.MediaMode }

// VideoCodec returns the video codec the session's publishers send.
func (s *Session) VideoCodec() VideoCodec { return s.info.VideoCodec }

// E2EE reports whether the session is end-to-end encrypted
// (SessionOptions.E2EE).
func (s *Session) E2EE() bool { return s.info.E2EE }

// videoCodecName is the codec clients are told of in "connected": none for
// AnyCodec or a relayed session, whose peers choose; CommonCodec's current
// choice.
func (s *Session) videoCodecName() string {
	if s.info.MediaMode == Relayed {
		return ""
	}
	return strings.TrimPrefix(s.publishVideoCodec(), "video/")
}

// ArchiveMode returns whether the session records itself (always) or the
// host starts its archives (manual).
func (s *Session) ArchiveMode() ArchiveMode {
	if s.info.ArchiveMode == "" { // a record made before archives
		return ArchiveModeManual
	}
	return s.info.ArchiveMode
}

// Location returns the location hint given at creation.
func (s *Session) Location() string { return s.info.Location }

// Metadata returns a copy of the metadata given at creation.
func (s *Session) Metadata() map[string]string { return maps.Clone(s.info.Metadata) }

// CreationTime returns when the session was created.
func (s *Session) CreationTime() time.Time { return s.info.CreationTime }

// OnConnectionCreated sets the callback run when a client connects.
// Callbacks of a session run one at a time, in the order of the events, on a
// goroutine of their own: a slow callback delays only later callbacks.
func (s *Session) OnConnectionCreated(f func(*Connection)) {
	s.mu.Lock()
	defer s.unlock()
	s.h.connectionCreated = f
}

// OnConnectionDestroyed sets the callback run when a connection ends.
func (s *Session) OnConnectionDestroyed(f func(*Connection, Reason)) {
	s.mu.Lock()
	defer s.unlock()
	s.h.connectionDestroyed = f
}

// OnStreamCreated sets the callback run when a stream is published.
func (s *Session) OnStreamCreated(f func(*Stream)) {
	s.mu.Lock()
	defer s.unlock()
	s.h.streamCreated = f
}

// OnStreamDestroyed sets the callback run when a stream ends.
func (s *Session) OnStreamDestroyed(f func(*Stream, Reason)) {
	s.mu.Lock()
	defer s.unlock()
	s.h.streamDestroyed = f
}

// OnStreamPropertyChanged sets the callback run when a stream's audio, video
// or dimensions change.
func (s *Session) OnStreamPropertyChanged(f func(StreamPropertyChange)) {
	s.mu.Lock()
	defer s.unlock()
	s.h.streamPropertyChanged = f
}

// OnSignal sets the callback run for every signal sent in the session,
// including the host's own.
func (s *Session) OnSignal(f func(Signal)) {
	s.mu.Lock()
	defer s.unlock()
	s.h.signal = f
}

// Connections returns the session's connections, oldest first.
func (s *Session) Connections() []*Connection {
	s.mu.Lock()
	defer s.unlock()
	return s.connectionsLocked()
}

func (s *Session) connectionsLocked() []*Connection {
	list := slices.Collect(maps.Values(s.conns))
	slices.SortFunc(list, func(a, b *Connection) int { return a.created.Compare(b.created) })
	return list
}

// Connection returns the connection with the given id.
func (s *Session) Connection(id string) (*Connection, error) {
	s.mu.Lock()
	defer s.unlock()
	c, ok := s.conns[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrConnectionNotFound, id)
	}
	return c, nil
}

// Streams returns the session's streams, oldest first.
func (s *Session) Streams() []*Stream {
	s.mu.Lock()
	defer s.unlock()
	return s.streamsLocked()
}

func (s *Session) streamsLocked() []*Stream {
	list := slices.Collect(maps.Values(s.streams))
	slices.SortFunc(list, func(a, b *Stream) int { return a.created.Compare(b.created) })
	return list
}

// Stream returns the stream with the given id.
func (s *Session) Stream(id string) (*Stream, error) {
	s.mu.Lock()
	defer s.unlock()
	return s.streamLocked(id)
}

func (s *Session) streamLocked(id string) (*Stream, error) {
	st, ok := s.streams[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrStreamNotFound, id)
	}
	return st, nil
}

// disconnect ends a connection for reason.
func (s *Session) disconnect(connectionID string, reason Reason) error {
	s.mu.Lock()
	defer s.unlock()
	c, ok := s.conns[connectionID]
	if !ok {
		return fmt.Errorf("%w: %q", ErrConnectionNotFound, connectionID)
	}
	if c.remote() {
		return s.commandLocked(kindDisconnect, c.id, reason)
	}
	s.removeLocked(c, reason)
	return nil
}

// Close ends every connection (reason sessionClosed), forgets the session's
// record and refuses further connects.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.unlock()
		return nil
	}
	if s.clustered() {
		s.sendToNodes(nodeMessage{Kind: kindSessionClosed}, nil)
	}
	s.closeLocked()
	s.unlock()
	return s.srv.store.DeleteSession(context.Background(), s.info.ID)
}

// closeLocked ends every connection of the session and forgets it.
func (s *Session) closeLocked() {
	if s.closed {
		return
	}
	s.closed = true
	s.stopSpeakersLocked()
	s.stopArchivesLocked()
	s.stopCaptionsLocked()
	s.stopBroadcastsLocked()
	for _, c := range s.connectionsLocked() {
		s.removeLocked(c, ReasonSessionClosed)
	}
	s.later(func() { s.srv.forget(s) })
}

// join adds a connection for a verified token, attached to l, for a client
// at addr (empty if unknown). suppressed: it wants no connection events.
func (s *Session) join(tok *TokenInfo, l *link, re uint64, addr string, suppressed bool, decodes []VideoCodec) (*Connection, error) {
	s.mu.Lock()
	defer s.unlock()
	if s.closed {
		return nil, ErrSessionClosed
	}
	if max := s.srv.cfg.MaxConnectionsPerSession; len(s.conns) >= max {
		return nil, fmt.Errorf("%w: %d connections", ErrConnectionLimit, max)
	}
	c := &Connection{
		id:        newID(),
		session:   s,
		token:     tok,
		created:   s.srv.cfg.Clock.Now(),
		resumeKey: newID(),
		out:       newOutbox(),
		listens:   !suppressed,
		addr:      addr,
		decodes:   decodes,
	}
	s.joinBudgetsLocked(c)
	s.joinCodecsLocked(c)
	if limit := s.srv.cfg.ConnectionEventsLimit; limit >= 0 && len(s.conns) >= limit {
		c.quiet = true
	}
	c.keyHash = keyHash(c.resumeKey)
	s.addConnectionLocked(c)
	s.attachLocked(c, l, re, attachNew, 0)
	return c, nil
}

// addConnectionLocked adds c to the session and announces it to the host
// and, unless it is quiet, to every client that listens.
func (s *Session) addConnectionLocked(c *Connection) {
	s.conns[c.id] = c
	s.emitLocked(connectionCreated{c})
	s.log.Info("connection created", "connection", c.id, "role", c.token.Role, "inProcess", c.inProcess)
}

// joinInProcess adds a connection with no client, owned by the host.
func (s *Session) joinInProcess(data string) (*Connection, error) {
	s.mu.Lock()
	defer s.unlock()
	if s.closed {
		return nil, ErrSessionClosed
	}
	c := &Connection{
		id:        newID(),
		session:   s,
		token:     &TokenInfo{Role: RolePublisher, Data: data, SessionID: s.info.ID, ExpireTime: s.srv.cfg.Clock.Now().Add(MaxTokenTTL)},
		created:   s.srv.cfg.Clock.Now(),
		inProcess: true,
		out:       newOutbox(),
	}
	s.addConnectionLocked(c)
	return c, nil
}

// resumeRequest asks to reattach a connection: its id, its resume key,
// how many messages its client got before its transport dropped, and the
// last signal of each origin it got. A connection that moves here also
// takes the client's address and whether it listens to connection events.
type resumeRequest struct {
	connectionID, key string
	received          uint64
	signals           map[string]uint64
	addr              string
	suppressed        bool
	nodes             map[string]cluster.Node // in a cluster: the nodes alive
}

// resume reattaches a detached (or still attached, dropped) connection to a
// new transport, as asked by r with a token whose id matches the original.
// Another node's connection moves here (adoptLocked).
func (s *Session) resume(tok *TokenInfo, r resumeRequest, l *link, re uint64) (*Connection, error) {
	s.mu.Lock()
	defer s.unlock()
	c, ok := s.conns[r.connectionID]
	if ok && c.remote() && !s.closed {
		return s.adoptLocked(c, tok, r, l, re)
	}
	// Only a client connection with its key is resumed: the host's has
	// none.
	if !ok || c.inProcess || c.resumeKey == "" ||
		subtle.ConstantTimeCompare([]byte(c.resumeKey), []byte(r.key)) != 1 || c.token.ID != tok.ID {
		return nil, fmt.Errorf("%w: no connection %q to resume", ErrConnectionNotFound, r.connectionID)
	}
	if c.grace != nil {
		c.grace.Stop()
		c.grace = nil
	}
	if c.unconfirmed {
		// It moved here, but its client may not know: tell it again.
		s.attachLocked(c, l, re, attachMoved, c.sentCount())
		s.catchUpLocked(c, r.signals, r.nodes)
		s.log.Info("connection resumed, moved here", "connection", c.id)
		return c, nil
	}
	if !c.canReplay(r.received) {
		return nil, fmt.Errorf("%w: connection %q missed too much to resume", ErrConnectionNotFound, r.connectionID)
	}
	s.attachLocked(c, l, re, attachResumed, r.received)
	s.awaitRestartLocked(c)
	s.log.Info("connection resumed", "connection", c.id)
	return c, nil
}

// confirm notes that c's client sent something on its transport: it
// got the "connected" message, and knows where its connection is.
func (s *Session) confirm(c *Connection) {
	s.mu.Lock()
	defer s.unlock()
	c.unconfirmed = false
}

// How a transport is attached to a connection: a new one, one resumed
// here, or one that moved here from another node.
type attachKind int

const (
	attachNew attachKind = iota
	attachResumed
	attachMoved
)

// attachLocked makes l the connection's transport and starts its writer with
// the "connected" message first. A new connection's client also gets the
// session's state: its streams and connections (all of them, or only
// those that publish for a client that does not listen or a quiet
// connection), in pieces that each fit a message; "connected" carries the
// first, and "sessionState" messages queued before anything else carry the
// others. A resumed one gets only the connection itself: the messages it
// missed are replayed, then those queued while it was detached follow,
// which brings the client up to date without repeating anything. received
// is how many messages the client got before its transport dropped. One
// that moved here gets the whole state, as a new one.
func (s *Session) attachLocked(c *Connection, l *link, re uint64, kind attachKind, received uint64) {
	if c.link != nil {
		close(c.link.done)
		signaling.CloseNow(c.link.t)
	}
	prev := c.writer
	c.link, c.writer = l, l
	b := s.connectedLocked(c, re, kind)
	go c.writeLoop(l, prev, b, received)
}

// linkEnded notes that l, the transport of c, ended. A clean close is the
// client leaving. After a failure the connection stays for the grace period,
// waiting for the client to resume, then ends with reason networkDisconnected.
func (s *Session) linkEnded(c *Connection, l *link, clean bool) {
	s.mu.Lock()
	defer s.unlock()
	if c.gone || c.link != l {
		return // already ended, or already resumed on another link
	}
	if clean && !c.moving {
		s.removeLocked(c, ReasonClientDisconnected)
		return
	}
	close(l.done)
	c.link = nil
	grace := s.srv.cfg.ReconnectGrace
	if grace <= 0 {
		s.removeLocked(c, ReasonNetworkDisconnected)
		return
	}
	s.log.Info("connection detached", "connection", c.id, "grace", grace)
	c.grace = s.srv.cfg.Clock.AfterFunc(grace, func() {
		s.mu.Lock()
		defer s.unlock()
		if !c.gone && c.link == nil {
			s.removeLocked(c, ReasonNetworkDisconnected)
		}
	})
}

// removeLocked ends a connection and its streams, tells everyone, and sends
// the client its reason before closing its transport.
func (s *Session) removeLocked(c *Connection, reason Reason) {
	if c.gone {
		return
	}
	for _, st := range s.streamsLocked() {
		if st.connection == c {
			s.removeStreamLocked(st, reason)
		}
	}
	for id, p := range c.media.pending {
		delete(c.media.pending, id)
		s.later(p.pub.close)
	}
	c.media.subs = nil
	c.media.stopRestartWait()
	s.dropRetiredLocked(c)
	s.later(c.closeMedia)
	s.buryLocked(c.id)
	s.leaveBudgetsLocked(c)
	s.leaveCodecsLocked(c)
	delete(s.conns, c.id)
	if c.grace != nil {
		c.grace.Stop()
	}
	s.emitLocked(connectionDestroyed{c, reason})
	if reason != ReasonClientDisconnected {
		s.goodbyeLocked(c, reason)
	}
	c.gone = true
	c.out.close() // the writer flushes what is queued, then closes the transport
	s.log.Info("connection destroyed", "connection", c.id, "reason", reason)
}

// removeStreamLocked ends a stream and tells everyone.
func (s *Session) removeStreamLocked(st *Stream, reason Reason) {
	if st.gone {
		return
	}
	st.gone = true
	s.buryLocked(st.id)
	if st.moved && s.clustered() {
		s.later(func() { s.srv.releaseHeld(st.id) }) // refused now: it is gone
	}
	if s.streams[st.id] != st { // never announced: its tracks had not all arrived
		s.later(st.pub.close)
		if c := st.connection; c != nil && !c.remote() && !c.gone {
			d := st.describe() // only its client knew of it, waiting for its media
			s.sendLocked(c, &signaling.Message{Type: signaling.TypeStreamDestroyed, Stream: &d, Reason: string(reason)})
		}
		return
	}
	delete(s.streams, st.id)
	for _, c := range s.conns {
		delete(c.media.subs, st.id)
	}
	if st.pub != nil {
		s.later(st.pub.close)
	}
	s.emitLocked(streamDestroyed{st, reason})
	s.log.Info("stream destroyed", "stream", st.id, "reason", reason)
}

// newID returns a random, URL-safe identifier of 128 bits.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
