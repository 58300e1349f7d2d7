// Package client is Crossbar's Go client: it connects to a session as a
// browser would, for bots, tools, load tests and tests of application logic.
package client

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/crossbar-rtc/crossbar/signaling"
)

// Event is something that happened in the session, as the client sees it.
// Type is a message type of the protocol (connectionCreated, streamCreated,
// signal, sessionDisconnected...) or one of the client's own:
// TypeReconnecting, TypeReconnected, TypeSubscriberDisconnected and
// TypeSubscriberConnected.
type Event struct {
	Type       signaling.Type
	Connection *signaling.Connection
	Stream     *signaling.Stream
	Signal     *signaling.Signal
	Change     *signaling.PropertyChange
	Reason     string
	Active     *bool // muteForced
	// StreamID names the subscription of videoDisabled and videoEnabled
	// (reason "quality": the client's bandwidth does not carry, or again
	// carries, the stream's lowest video layer), subscriberDisconnected
	// and subscriberConnected, and the published stream of layers.
	StreamID string
	Layers   []signaling.Layer // layers: which simulcast layers someone receives
	// Archive is the archive of archiveStarted and archiveStopped: its id
	// and name.
	Archive *signaling.Archive
	// Caption is the caption of a stream's audio (StreamID's) in an
	// event of type signaling.TypeCaption, opentok.js's captionReceived.
	Caption *signaling.Caption
}

// Client-side event types. A subscription's media path lost (its
// StreamID's; ICE restarts) and back are OpenTok's Subscriber events
// disconnected and connected.
const (
	TypeReconnecting           signaling.Type = "sessionReconnecting"
	TypeReconnected            signaling.Type = "sessionReconnected"
	TypeSubscriberDisconnected signaling.Type = "subscriberDisconnected"
	TypeSubscriberConnected    signaling.Type = "subscriberConnected"
)

// ErrDisconnected is returned by requests on a session that has ended.
var ErrDisconnected = errors.New("client: session disconnected")

// Options tune Connect. The zero value is fine.
type Options struct {
	// ReconnectFor is how long the client tries to resume its connection
	// after the transport drops. Requests made meanwhile (Signal, Publish,
	// Subscribe...) wait for the new transport and go on it, as opentok.js
	// queues signals while reconnecting; those already sent on the lost
	// transport fail with ErrDisconnected, as they may or may not have been
	// carried out. Zero means 60 s, the server's default grace
	// (crossbar.Config.ReconnectGrace) and OpenTok's; negative, no retries.
	ReconnectFor time.Duration
	// PingInterval is how often the client pings the server, and
	// PingTimeout how long it waits for the answer before it takes the link
	// for dead and reconnects (TypeReconnecting), as when the transport
	// fails: a partition or a dead server is noticed within
	// PingInterval+PingTimeout. The pings are the transport's own when it
	// has a keep-alive (signaling.KeepAliver: WebSocket pings), and the
	// protocol's "ping" requests otherwise; a server takes a client on such
	// a transport for dead when it sends nothing for the server's
	// PingInterval+PingTimeout, so the client's PingInterval must not be
	// longer than the server's. Zero means signaling.DefaultPingInterval
	// and DefaultPingTimeout (3 s and 5 s); a negative PingInterval turns
	// the pings off.
	PingInterval, PingTimeout time.Duration
	// Media tunes the peer connections of Publish and Subscribe.
	Media MediaOptions
	// ConnectionEventsSuppressed asks for no connectionCreated and
	// connectionDestroyed events and only the connections that publish,
	// as opentok.js's option of that name: for large sessions.
	ConnectionEventsSuppressed bool
}

// Session is a client's connection to a Crossbar session.
type Session struct {
	dialer    Dialer
	token     string
	opts      Options
	writing   chan struct{} // holds a token while a message is written
	events    chan Event
	wake      chan struct{} // an event was queued
	done      chan struct{} // closed when the session ends
	abandoned chan struct{} // closed by Disconnect: stop delivering events
	delivered chan struct{} // closed when delivery has stopped

	mu          sync.Mutex
	t           signaling.Transport
	relinked    chan struct{} // set while the client reconnects, closed when it is done
	self        signaling.Connection
	caps        signaling.Capabilities
	iceServers  []signaling.ICEServer // from "connected", for the peer connections
	mediaMode   string                // from "connected": signaling.MediaRouted or MediaRelayed
	connections map[string]signaling.Connection
	streams     map[string]signaling.Stream
	pending     map[uint64]chan *signaling.Message
	nextID      uint64
	ended       bool
	reason      string
	received    uint64 // messages read after the first "connected"
	// marks are the highest signal number received from each origin node,
	// and moving is set by a "move" from a draining node (move.go).
	marks       map[string]uint64
	moving      bool
	queue       []Event // events not yet taken from the Events channel
	finished    bool    // the final event is queued
	doneOnce    sync.Once
	abandonOnce sync.Once

	media mediaState // peer connections, publishers and subscribers (media.go)
}

// Dialer opens a transport to the server, as ConnectTransport needs them. It
// must give up when ctx ends.
type Dialer func(ctx context.Context) (signaling.Transport, error)

// Connect opens a session with a token the host generated. url is the
// WebSocket endpoint of the host's mounted handler, e.g.
// "ws://127.0.0.1:8080/crossbar/ws".
func Connect(ctx context.Context, url, token string, opts *Options) (*Session, error) {
	return ConnectTransport(ctx, func(ctx context.Context) (signaling.Transport, error) {
		ws, err := signaling.DialWebSocket(ctx, url, nil)
		if err != nil {
			return nil, err
		}
		return ws, nil
	}, token, opts)
}

// ConnectTransport is Connect over the transports dial opens: one to
// connect, and a new one each time the client resumes its connection after
// a transport failed. A host that carries signaling over a channel of its
// own (see signaling.Transport and crossbar's Server.ServeTransport) joins
// its sessions with it; so do tests, over a signaling.Pipe.
func ConnectTransport(ctx context.Context, dial Dialer, token string, opts *Options) (*Session, error) {
	s := &Session{
		dialer:      dial,
		token:       token,
		writing:     make(chan struct{}, 1),
		events:      make(chan Event),
		delivered:   make(chan struct{}),
		wake:        make(chan struct{}, 1),
		done:        make(chan struct{}),
		abandoned:   make(chan struct{}),
		connections: map[string]signaling.Connection{},
		streams:     map[string]signaling.Stream{},
		pending:     map[uint64]chan *signaling.Message{},
	}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.ReconnectFor == 0 {
		s.opts.ReconnectFor = 60 * time.Second
	}
	if s.opts.PingInterval == 0 {
		s.opts.PingInterval = signaling.DefaultPingInterval
	}
	if s.opts.PingTimeout <= 0 {
		s.opts.PingTimeout = signaling.DefaultPingTimeout
	}
	t, connected, err := s.dial(ctx, nil)
	if err == nil {
		err = s.readState(ctx, t, connected)
	}
	if err != nil {
		return nil, err
	}
	s.t = t
	s.self = *connected.Connection
	s.iceServers = connected.ICEServers
	s.mediaMode = connected.MediaMode
	if connected.Capabilities != nil {
		s.caps = *connected.Capabilities
	}
	// Like opentok.js: every connection, our own included, then every stream.
	var initial []Event
	for _, c := range connected.Connections {
		s.connections[c.ID] = c
		if !s.opts.ConnectionEventsSuppressed {
			initial = append(initial, Event{Type: signaling.TypeConnectionCreated, Connection: &c})
		}
	}
	for _, st := range connected.Streams {
		s.streams[st.ID] = st
		initial = append(initial, Event{Type: signaling.TypeStreamCreated, Stream: &st})
	}
	// Like opentok.js: a session being recorded says so as one joins it.
	for _, a := range connected.Archives {
		initial = append(initial, Event{Type: signaling.TypeArchiveStarted, Archive: &a})
	}
	for _, ev := range initial {
		s.emit(ev)
	}
	go s.run(t)
	go s.deliver()
	return s, nil
}

// dial opens a transport and completes the connect handshake, resuming
// when resume is set.
func (s *Session) dial(ctx context.Context, resume *signaling.Resume) (signaling.Transport, *signaling.Message, error) {
	t, err := s.dialer(ctx)
	if err == nil && t == nil {
		err = errors.New("no transport and no error")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("client: dial: %w", err)
	}
	b, err := signaling.Encode(&signaling.Message{Type: signaling.TypeConnect, ID: 1, Token: s.token, Resume: resume,
		ConnectionEventsSuppressed: s.opts.ConnectionEventsSuppressed, VideoCodecs: s.opts.Media.decodes()})
	if err == nil {
		err = t.WriteMessage(ctx, b)
	}
	if err != nil {
		signaling.CloseNow(t)
		return nil, nil, fmt.Errorf("client: send connect: %w", err)
	}
	b, err = t.ReadMessage(ctx)
	if err != nil {
		signaling.CloseNow(t)
		return nil, nil, fmt.Errorf("client: read connected: %w", err)
	}
	m, err := signaling.Decode(b)
	if err != nil {
		signaling.CloseNow(t)
		return nil, nil, err
	}
	if m.Type == signaling.TypeError && m.Error != nil {
		signaling.CloseNow(t)
		return nil, nil, m.Error
	}
	if m.Type != signaling.TypeConnected || m.Connection == nil {
		signaling.CloseNow(t)
		return nil, nil, fmt.Errorf("client: unexpected %q in reply to connect", m.Type)
	}
	return t, m, nil
}

// readState reads the rest of a large session's initial state, in
// "sessionState" messages, into connected.
func (s *Session) readState(ctx context.Context, t signaling.Transport, connected *signaling.Message) error {
	for more := connected.More; more; {
		b, err := t.ReadMessage(ctx)
		if err != nil {
			signaling.CloseNow(t)
			return fmt.Errorf("client: read session state: %w", err)
		}
		s.mu.Lock()
		s.received++
		s.mu.Unlock()
		m, err := signaling.Decode(b)
		if err == nil && m.Type != signaling.TypeSessionState {
			err = fmt.Errorf("got %q", m.Type)
		}
		if err != nil {
			signaling.CloseNow(t)
			return fmt.Errorf("client: read session state: %w", err)
		}
		connected.Connections = append(connected.Connections, m.Connections...)
		connected.Streams = append(connected.Streams, m.Streams...)
		more = m.More
	}
	return nil
}

// run reads the transport and turns messages into events and replies,
// reconnecting when the transport fails, until the session ends.
func (s *Session) run(t signaling.Transport) {
	defer s.closeDone()
	ctx, stopPings := s.keepAlive(t)
	defer func() { stopPings() }()
	for !s.isEnded() {
		b, err := t.ReadMessage(ctx)
		if err != nil {
			stopPings()
			if s.isEnded() || errors.Is(err, signaling.ErrClosed) {
				break
			}
			signaling.CloseNow(t)
			if nt := s.reconnect(); nt != nil {
				t = nt
				ctx, stopPings = s.keepAlive(t)
				continue
			}
			break
		}
		s.mu.Lock()
		s.received++
		s.mu.Unlock()
		m, err := signaling.Decode(b)
		if err != nil {
			continue // a newer server's message this client cannot read
		}
		if ev, ok := s.apply(m); ok {
			s.emit(ev)
		}
		if m.Type == signaling.TypeMove {
			signaling.CloseNow(t) // the read fails: the client moves
		}
		s.routeMedia(m)
	}
	s.end("networkDisconnected")
	s.failPending()
	s.closeMedia()
	signaling.CloseNow(t)
	s.mu.Lock()
	s.queue = append(s.queue, Event{Type: signaling.TypeSessionDisconnected, Reason: s.reason})
	s.finished = true
	s.mu.Unlock()
	s.poke()
}

// keepAlive checks that the server still answers over t until the returned
// stop is called, which waits for the checks to end and may be called more
// than once. It runs t's own keep-alive if t has one (signaling.KeepAliver),
// which drops t when the server stops answering; otherwise it sends "ping"
// requests, and ends the returned context, which run reads t with, when a
// reply does not come. Either way run's read fails and the client
// reconnects.
func (s *Session) keepAlive(t signaling.Transport) (ctx context.Context, stop func()) {
	ctx, dead := context.WithCancelCause(context.Background())
	if s.opts.PingInterval < 0 {
		return ctx, func() { dead(nil) }
	}
	pings, stopPings := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if ka, ok := t.(signaling.KeepAliver); ok {
			_ = ka.KeepAlive(pings, s.opts.PingInterval, s.opts.PingTimeout) // a dead link fails the reader
			return
		}
		if err := s.ping(pings); pings.Err() == nil {
			dead(err)
		}
	}()
	return ctx, func() {
		stopPings()
		<-done
		dead(nil)
	}
}

// ping sends a "ping" request every PingInterval until ctx ends, and returns
// an error when a reply has not come within PingTimeout.
func (s *Session) ping(ctx context.Context) error {
	err := signaling.Heartbeat(ctx, s.opts.PingInterval, s.opts.PingTimeout, func(pctx context.Context) error {
		_, err := s.request(pctx, &signaling.Message{Type: signaling.TypePing})
		return err
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("client: keep-alive: no reply to a ping within %v: %w", s.opts.PingTimeout, err)
}

// write sends b over t, one message at a time: a transport need not take
// two writes at once.
func (s *Session) write(ctx context.Context, t signaling.Transport, b []byte) error {
	select {
	case s.writing <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.writing }()
	return t.WriteMessage(ctx, b)
}

// emit queues ev for the Events channel. It never blocks: replies must get
// through while the consumer is busy.
func (s *Session) emit(ev Event) {
	s.mu.Lock()
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	s.poke()
}

func (s *Session) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// deliver moves queued events to the Events channel, and closes it after
// the final event, or at once after Disconnect.
func (s *Session) deliver() {
	defer close(s.delivered)
	defer close(s.events)
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			finished := s.finished
			s.mu.Unlock()
			if finished {
				return
			}
			select {
			case <-s.wake:
			case <-s.abandoned:
				return
			}
			continue
		}
		ev := s.queue[0]
		s.queue = s.queue[1:]
		s.mu.Unlock()
		select {
		case s.events <- ev:
		case <-s.abandoned:
			return
		}
	}
}

// dialAttemptTimeout bounds one attempt to resume the connection.
const dialAttemptTimeout = 5 * time.Second

// reconnect resumes the connection on a new transport, or ends the session
// when that fails within the reconnect window. It returns the new transport.
func (s *Session) reconnect() signaling.Transport {
	// Requests made from now on wait for the new transport; if there is
	// none, for the session's end.
	s.mu.Lock()
	s.relinked = make(chan struct{})
	s.mu.Unlock()
	s.failPending() // sent on the lost transport: they may or may not have been carried out
	if s.opts.ReconnectFor < 0 {
		return nil
	}
	s.mu.Lock()
	moving := s.moving // asked to: the application need not know
	s.moving = false
	s.mu.Unlock()
	if !moving {
		s.emit(Event{Type: TypeReconnecting})
	}
	deadline := time.Now().Add(s.opts.ReconnectFor)
	for wait := 50 * time.Millisecond; time.Now().Before(deadline); wait = min(2*wait, time.Second) {
		select {
		case <-s.done:
			return nil
		case <-time.After(wait):
		}
		// One attempt may not take the whole window: a dial into a
		// partition hangs, and the next one may find the network back.
		attempt := time.Now().Add(dialAttemptTimeout)
		if attempt.After(deadline) {
			attempt = deadline
		}
		ctx, cancel := context.WithDeadline(context.Background(), attempt)
		s.mu.Lock()
		resume := &signaling.Resume{ConnectionID: s.self.ID, Key: s.self.ResumeKey, Received: s.received, Signals: maps.Clone(s.marks)}
		s.mu.Unlock()
		t, connected, err := s.dial(ctx, resume)
		if err == nil && connected.Moved {
			s.mu.Lock()
			s.received = 0 // counted anew by the node the connection moved to
			s.mu.Unlock()
			err = s.readState(ctx, t, connected)
		}
		cancel()
		var se *signaling.Error
		if errors.As(err, &se) && se.Code != codeDraining {
			break // the server no longer has the connection
		}
		if err != nil {
			continue
		}
		s.mu.Lock()
		if s.ended {
			s.mu.Unlock()
			signaling.CloseNow(t)
			return nil
		}
		s.t = t
		close(s.relinked)
		s.relinked = nil
		s.mu.Unlock()
		if !moving {
			s.emit(Event{Type: TypeReconnected})
		}
		if connected.Moved {
			s.reconcile(connected)
			s.moveMedia()
		} else {
			s.restartAfterResume()
		}
		return t
	}
	return nil
}

// apply updates the client's view of the session with m and returns the
// event it makes, if any.
func (s *Session) apply(m *signaling.Message) (Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.Re != 0 {
		if ch, ok := s.pending[m.Re]; ok {
			delete(s.pending, m.Re)
			ch <- m
			return Event{}, false
		}
	}
	ev := Event{Type: m.Type, Connection: m.Connection, Stream: m.Stream, Signal: m.Signal, Change: m.Change, Reason: m.Reason, Active: m.Active,
		StreamID: m.StreamID, Layers: m.Layers, Archive: m.Archive, Caption: m.Caption}
	switch m.Type {
	case signaling.TypeConnectionCreated:
		if m.Connection == nil {
			return ev, false
		}
		s.connections[m.Connection.ID] = *m.Connection
	case signaling.TypeConnectionDestroyed:
		if m.Connection == nil {
			return ev, false
		}
		delete(s.connections, m.Connection.ID)
	case signaling.TypeStreamCreated:
		if m.Stream == nil {
			return ev, false
		}
		s.streams[m.Stream.ID] = *m.Stream
	case signaling.TypeStreamDestroyed:
		if m.Stream == nil {
			return ev, false
		}
		delete(s.streams, m.Stream.ID)
	case signaling.TypeStreamPropertyChanged:
		if m.Stream == nil {
			return ev, false
		}
		s.streams[m.Stream.ID] = *m.Stream
	case signaling.TypeSessionDisconnected:
		// The final event is sent by run as the session ends.
		s.reason = m.Reason
		s.ended = true
		return ev, false
	case signaling.TypeMove:
		s.moving = true
		return ev, false
	case signaling.TypeSignal:
		s.noteSignal(m.Signal)
	case signaling.TypeMuteForced, signaling.TypeVideoDisabled, signaling.TypeVideoEnabled, signaling.TypeLayers,
		signaling.TypeArchiveStarted, signaling.TypeArchiveStopped, signaling.TypeCaption:
	default:
		return ev, false
	}
	return ev, true
}

// Events returns the session's events in order. It is closed after the
// final sessionDisconnected event, or by Disconnect. Events wait in memory
// until read: read them, or call Disconnect, so that the client can finish.
func (s *Session) Events() <-chan Event { return s.events }

// Connection returns the client's own connection.
func (s *Session) Connection() signaling.Connection {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.self
}

// ICEServers returns the STUN and TURN servers the server handed out in
// "connected", for the client's peer connections.
func (s *Session) ICEServers() []signaling.ICEServer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.iceServers)
}

// Relayed reports whether the session is relayed: media goes peer to peer,
// on one peer connection per stream and subscriber, and the server only
// signals. Publish and Subscribe work the same in either mode.
func (s *Session) Relayed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mediaMode == signaling.MediaRelayed
}

// Capabilities returns what the client's role permits.
func (s *Session) Capabilities() signaling.Capabilities {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.caps
}

// Connections returns the session's connections as the client knows them.
func (s *Session) Connections() []signaling.Connection {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := slices.Collect(maps.Values(s.connections))
	slices.SortFunc(list, func(a, b signaling.Connection) int { return int(a.CreationTime - b.CreationTime) })
	return list
}

// Streams returns the session's streams as the client knows them.
func (s *Session) Streams() []signaling.Stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := slices.Collect(maps.Values(s.streams))
	slices.SortFunc(list, func(a, b signaling.Stream) int { return int(a.CreationTime - b.CreationTime) })
	return list
}

// Signal sends a signal to one connection (to is its id) or, with to empty,
// to everyone including this client.
func (s *Session) Signal(ctx context.Context, to, typ, data string) error {
	_, err := s.request(ctx, &signaling.Message{Type: signaling.TypeSignal, Signal: &signaling.Signal{To: to, Type: typ, Data: data}})
	return err
}

// ForceDisconnect ends another connection. It needs a moderator token.
func (s *Session) ForceDisconnect(ctx context.Context, connectionID string) error {
	_, err := s.request(ctx, &signaling.Message{Type: signaling.TypeForceDisconnect, ConnectionID: connectionID})
	return err
}

// ForceUnpublish ends another connection's stream. It needs a moderator token.
func (s *Session) ForceUnpublish(ctx context.Context, streamID string) error {
	_, err := s.request(ctx, &signaling.Message{Type: signaling.TypeForceUnpublish, StreamID: streamID})
	return err
}

// ForceMuteStream mutes another connection's stream. It needs a moderator
// token.
func (s *Session) ForceMuteStream(ctx context.Context, streamID string) error {
	_, err := s.request(ctx, &signaling.Message{Type: signaling.TypeForceMuteStream, StreamID: streamID})
	return err
}

// ForceMuteAll mutes every stream but the excluded ones, and those published
// later, until DisableForceMute. It needs a moderator token.
func (s *Session) ForceMuteAll(ctx context.Context, excluded ...string) error {
	_, err := s.request(ctx, &signaling.Message{Type: signaling.TypeForceMuteAll, Excluded: excluded})
	return err
}

// DisableForceMute ends ForceMuteAll. It needs a moderator token.
func (s *Session) DisableForceMute(ctx context.Context) error {
	_, err := s.request(ctx, &signaling.Message{Type: signaling.TypeDisableForceMute})
	return err
}

// Disconnect leaves the session, closes its peer connections and the Events
// channel; events not yet read are dropped.
func (s *Session) Disconnect() error {
	defer func() {
		s.closeMedia()
		s.abandonOnce.Do(func() { close(s.abandoned) })
		<-s.delivered
	}()
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return nil
	}
	t := s.t
	s.mu.Unlock()
	b, err := signaling.Encode(&signaling.Message{Type: signaling.TypeDisconnect})
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = s.write(ctx, t, b)
		cancel()
	}
	s.end("clientDisconnected")
	s.closeDone()
	// An orderly close, which lets the server read the disconnect first:
	// dropped at once, the link could fail a write of the server's before
	// it read it, and the server would wait for the client to come back.
	_ = t.Close()
	return err
}

// request sends m and waits for the server's reply.
func (s *Session) request(ctx context.Context, m *signaling.Message) (*signaling.Message, error) {
	ch := make(chan *signaling.Message, 1)
	err := s.post(ctx, m, ch)
	defer func() {
		s.mu.Lock()
		delete(s.pending, m.ID)
		s.mu.Unlock()
	}()
	if err != nil {
		return nil, fmt.Errorf("client: send %s: %w", m.Type, err)
	}
	select {
	case r := <-ch:
		if r == nil {
			return nil, ErrDisconnected
		}
		if r.Type == signaling.TypeError && r.Error != nil {
			return nil, r.Error
		}
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.done:
		return nil, ErrDisconnected
	}
}

// post sends m as a request whose reply goes to ch. Made while the client
// reconnects, it waits to go on the new transport, as the JavaScript client
// queues its messages then; so it does when the transport it was to go on
// is closed before it was written.
func (s *Session) post(ctx context.Context, m *signaling.Message, ch chan *signaling.Message) error {
	for {
		t, err := s.pend(ctx, m, ch)
		if err != nil {
			return err
		}
		b, err := signaling.Encode(m)
		if err != nil {
			return err
		}
		err = s.write(ctx, t, b)
		if err == nil || !s.dropped(t) {
			return err
		}
		s.mu.Lock()
		delete(s.pending, m.ID)
		s.mu.Unlock()
	}
}

// pend gives m the next request id and has its reply go to ch, once the
// client is not reconnecting, and returns the transport to send m on.
func (s *Session) pend(ctx context.Context, m *signaling.Message, ch chan *signaling.Message) (signaling.Transport, error) {
	for {
		s.mu.Lock()
		if s.ended {
			s.mu.Unlock()
			return nil, ErrDisconnected
		}
		relinked, t := s.relinked, s.t
		if relinked == nil {
			s.nextID++
			m.ID = s.nextID
			s.pending[m.ID] = ch
		}
		s.mu.Unlock()
		if relinked == nil {
			return t, nil
		}
		select {
		case <-relinked:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.done:
			return nil, ErrDisconnected
		}
	}
}

// dropped reports whether t has been given up: it is no longer the
// client's transport, or run has seen it fail and is replacing it.
func (s *Session) dropped(t signaling.Transport) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.t != t || s.relinked != nil
}

// failPending ends every request waiting for a reply from a lost transport.
func (s *Session) failPending() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, ch := range s.pending {
		delete(s.pending, id)
		ch <- nil
	}
}

func (s *Session) isEnded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

func (s *Session) reasonOr(def string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reason != "" {
		return s.reason
	}
	return def
}

// end marks the session over, with reason unless the server gave one.
func (s *Session) end(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reason == "" {
		s.reason = reason
	}
	s.ended = true
}

// closeDone releases everything waiting on the session.
func (s *Session) closeDone() { s.doneOnce.Do(func() { close(s.done) }) }
