package crossbar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/crossbar-rtc/crossbar/cluster"
	"github.com/crossbar-rtc/crossbar/sfu"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// A session in a cluster (Config.Cluster) spans nodes. Each node keeps its
// own clients' connections and streams, and a mirror of the others': it
// shares the events of its own on the session's topic and writes their
// records, which a node reads when the session comes to life there, or
// when its bus comes back after it was lost. A node that stops
// heartbeating takes its connections with it, for everyone, with reason
// networkDisconnected.

// clusterVersion is the version of the messages nodes exchange. A node
// ignores messages of a version it does not know.
const clusterVersion = 1

// busTimeout bounds one operation on the cluster's bus.
const busTimeout = 5 * time.Second

// nodeMessage is what one node tells the others of a session.
type nodeMessage struct {
	V      int           `json:"v"`
	From   string        `json:"from"` // node id
	Kind   string        `json:"kind"`
	Conn   *connRecord   `json:"conn,omitempty"`
	Stream *streamRecord `json:"stream,omitempty"`
	ID     string        `json:"id,omitempty"` // the connection or stream a command is for
	Reason Reason        `json:"reason,omitempty"`
	Signal *signalRecord `json:"signal,omitempty"`
	// A property change: its name and the value it had.
	Property string          `json:"property,omitempty"`
	Old      json.RawMessage `json:"old,omitempty"`
	Active   bool            `json:"active,omitempty"`   // muteAll
	Excluded []string        `json:"excluded,omitempty"` // muteAll
	Classes  []string        `json:"classes,omitempty"`  // setLayout
	TokenID  string          `json:"tokenId,omitempty"`  // revoked
	// A node link's offer or answer, or an importing node's request.
	SDP     string           `json:"sdp,omitempty"`
	Request *sfu.LinkRequest `json:"request,omitempty"`
	// A relayed stream's subscription, or a step of its negotiation.
	Relay *relayRecord `json:"relay,omitempty"`
	// An inventory: every connection and stream the sender serves.
	Conns   []*connRecord   `json:"conns,omitempty"`
	Streams []*streamRecord `json:"streams,omitempty"`
	// A moved connection's catch-up: the marks of the signals its client
	// got, and the signals of the sender's it did not (move.go).
	Marks  map[string]uint64 `json:"marks,omitempty"`
	Missed []missedSignal    `json:"missed,omitempty"`
	Origin string            `json:"origin,omitempty"`
	// A caption of a stream's audio, made on the node that runs the
	// session's captions (captioner.go).
	Caption *signaling.Caption `json:"caption,omitempty"`
	// An archive call, or its answer (archivenode.go); a broadcast's
	// (broadcastnode.go).
	Call        string       `json:"call,omitempty"`
	ArchiveOp   *archiveOp   `json:"archiveOp,omitempty"`
	Archive     *Archive     `json:"archive,omitempty"`
	BroadcastOp *broadcastOp `json:"broadcastOp,omitempty"`
	Broadcast   *Broadcast   `json:"broadcast,omitempty"`
	CallError   *callError   `json:"callError,omitempty"`
}

// The kinds of node messages.
const (
	kindConnectionCreated   = "connectionCreated"
	kindConnectionDestroyed = "connectionDestroyed"
	kindStreamCreated       = "streamCreated"
	kindStreamDestroyed     = "streamDestroyed"
	kindStreamChanged       = "streamPropertyChanged"
	kindSignal              = "signal"
	kindMuteAll             = "muteAll"    // active, excluded
	kindDisconnect          = "disconnect" // command: id, reason
	kindUnpublish           = "unpublish"  // command: id, reason
	kindMuteStream          = "muteStream" // command: id
	kindSetLayout           = "setLayout"  // command: id, classes
	kindSessionClosed       = "closed"     // command
	kindInventory           = "inventory"  // conns, streams: all a node serves
	kindRelaySubscribe      = "relaySubscribe"
	kindRelayUnsubscribe    = "relayUnsubscribe"
	kindRelay               = "relay"
	kindAdopted             = "adopted"     // conn: a connection moved to the sender (move.go)
	kindCatchUp             = "catchUp"     // id, marks: send the signals of yours it missed
	kindMissed              = "missed"      // id, origin, missed: the signals it missed
	kindStreamMoved         = "streamMoved" // stream: its tracks now come from the sender
	kindRevoked             = "revoked"     // tokenId, on the revocations topic
	kindCaption             = "caption"     // id, caption: for the subscribers of the stream's captions
	revocationsTopic        = "revocations" // the topic of kindRevoked
)

// connRecord is a connection as the nodes know it.
type connRecord struct {
	ID      string `json:"id"`
	Node    string `json:"node"`
	Created int64  `json:"created"` // Unix ms
	Data    string `json:"data"`
	Role    Role   `json:"role"`
	TokenID string `json:"tokenId"`
	Quiet   bool   `json:"quiet,omitempty"`
	// Decodes are the video codecs the client decodes, for CommonCodec.
	Decodes []VideoCodec `json:"decodes,omitempty"`
	// Expires is when its token expires (Unix ms). Key is its resume
	// key's hash and Epoch the number of its moves, for a node that takes
	// it over (move.go).
	Expires int64  `json:"expires,omitempty"`
	Key     string `json:"key,omitempty"`
	Epoch   int    `json:"epoch,omitempty"`
}

// streamRecord is a stream as the nodes know it.
type streamRecord struct {
	ID           string    `json:"id"`
	ConnectionID string    `json:"connectionId"`
	Created      int64     `json:"created"`
	Name         string    `json:"name"`
	VideoType    VideoType `json:"videoType,omitempty"`
	HasAudio     bool      `json:"hasAudio"`
	HasVideo     bool      `json:"hasVideo"`
	HasCaptions  bool      `json:"hasCaptions,omitempty"`
	Width        int       `json:"width,omitempty"`
	Height       int       `json:"height,omitempty"`
	Tracks       []string  `json:"tracks,omitempty"` // the kinds of its tracks in the serving node's engine
	Layout       []string  `json:"layout,omitempty"` // its layout classes
}

// signalRecord is a signal crossing nodes; Origin names the sending
// node's process and N numbers its signals of the session.
type signalRecord struct {
	From, To   string // connection ids; empty: the host, everyone
	Type, Data string
	Origin     string
	N          uint64
}

func (c *Connection) clusterRecord(node string) *connRecord {
	return &connRecord{ID: c.id, Node: node, Created: c.created.UnixMilli(), Data: c.token.Data,
		Role: c.token.Role, TokenID: c.token.ID, Quiet: c.quiet, Decodes: c.decodes,
		Expires: c.token.ExpireTime.UnixMilli(), Key: c.keyHash, Epoch: c.epoch}
}

func (st *Stream) clusterRecord() *streamRecord {
	rec := &streamRecord{ID: st.id, ConnectionID: st.connection.id, Created: st.created.UnixMilli(), Name: st.name,
		VideoType: st.videoType, HasAudio: st.hasAudio, HasVideo: st.hasVideo, HasCaptions: st.captions, Width: st.dimensions.Width, Height: st.dimensions.Height,
		Layout: st.layoutClasses}
	if st.pub != nil {
		a, v := st.pub.tracks()
		for _, t := range []*sfu.Track{a, v} {
			if t != nil {
				rec.Tracks = append(rec.Tracks, t.Kind().String())
			}
		}
	}
	return rec
}

// remote reports whether c is served by another node.
func (c *Connection) remote() bool { return c.node != "" }

// The session's topic and record sets on the bus.
func (s *Session) topic() string     { return "session:" + s.info.ID }
func (s *Session) connSet() string   { return s.topic() + ":connections" }
func (s *Session) streamSet() string { return s.topic() + ":streams" }

func (s *Session) clustered() bool { return s.srv.bus != nil }
func (s *Session) nodeID() string  { return s.srv.bus.Node().ID }

// shareLocked tells the other nodes of ev, and keeps the records it
// changes, if it is about this node's own connections and streams. The bus
// is written on the session's cluster queue, in order, off the lock.
func (s *Session) shareLocked(ev event) {
	var m nodeMessage
	var put func(ctx context.Context) error
	switch ev := ev.(type) {
	case connectionCreated:
		if ev.c.remote() {
			return
		}
		rec := ev.c.clusterRecord(s.nodeID())
		m = nodeMessage{Kind: kindConnectionCreated, Conn: rec}
		put = s.putRecord(s.connSet(), rec.ID, rec)
	case connectionDestroyed:
		if ev.c.remote() {
			return
		}
		m = nodeMessage{Kind: kindConnectionDestroyed, ID: ev.c.id, Reason: ev.reason}
		put = s.deleteRecord(s.connSet(), ev.c.id)
	case streamCreated:
		if ev.st.connection.remote() {
			return
		}
		rec := ev.st.clusterRecord()
		m = nodeMessage{Kind: kindStreamCreated, Stream: rec}
		put = s.putRecord(s.streamSet(), rec.ID, rec)
	case streamDestroyed:
		if ev.st.connection.remote() {
			return
		}
		m = nodeMessage{Kind: kindStreamDestroyed, ID: ev.st.id, Reason: ev.reason}
		put = s.deleteRecord(s.streamSet(), ev.st.id)
	case streamPropertyChanged:
		st := ev.change.Stream
		if st.connection.remote() {
			return
		}
		old, err := json.Marshal(ev.change.OldValue)
		if err != nil {
			return
		}
		rec := st.clusterRecord()
		m = nodeMessage{Kind: kindStreamChanged, Stream: rec, Property: ev.change.Property, Old: old}
		put = s.putRecord(s.streamSet(), rec.ID, rec)
	case layoutChanged:
		if ev.st.connection.remote() {
			return
		}
		rec := ev.st.clusterRecord()
		m = nodeMessage{Kind: kindStreamChanged, Stream: rec, Property: layoutProperty}
		put = s.putRecord(s.streamSet(), rec.ID, rec)
	case signalSent:
		if ev.remote {
			return
		}
		sig := &signalRecord{Type: ev.sig.Type, Data: ev.sig.Data, Origin: ev.origin, N: ev.n}
		if ev.sig.From != nil {
			sig.From = ev.sig.From.id
		}
		if ev.sig.To != nil {
			if !ev.sig.To.remote() {
				if ev.shared != nil {
					ev.shared <- nil
				}
				return // delivered here
			}
			sig.To = ev.sig.To.id
		}
		m = nodeMessage{Kind: kindSignal, Signal: sig}
		if ev.shared != nil {
			s.onBus(m.Kind, s.busPublish(m), ev.shared)
			return
		}
	case archiveStarted:
		if !ev.remote {
			s.shareArchiveLocked(ev.a, true)
		}
		return
	case archiveStopped:
		if !ev.remote {
			s.shareArchiveLocked(ev.a, false)
		}
		return
	case muteForced:
		if ev.st != nil || ev.remote {
			return // one stream's: its publisher is here
		}
		m = nodeMessage{Kind: kindMuteAll, Active: ev.active, Excluded: ev.excluded}
	default:
		return
	}
	s.sendToNodes(m, put)
}

// sendToNodes publishes m on the session's topic after put, if any, on the
// session's cluster queue.
func (s *Session) sendToNodes(m nodeMessage, put func(context.Context) error) {
	send := s.busPublish(m)
	s.onBus(m.Kind, func(ctx context.Context) error {
		if put != nil {
			if err := put(ctx); err != nil {
				return err
			}
		}
		return send(ctx)
	}, nil)
}

// busPublish returns the publication of m on the session's topic.
func (s *Session) busPublish(m nodeMessage) func(context.Context) error {
	m.V, m.From = clusterVersion, s.nodeID()
	b, err := json.Marshal(m)
	return func(ctx context.Context) error {
		if err != nil {
			return fmt.Errorf("encode node message: %w", err)
		}
		return s.srv.bus.Publish(ctx, s.topic(), b)
	}
}

// onBus runs f on the session's cluster queue, after what was queued
// before, and notes whether the bus answered; done, if not nil, is sent
// f's error.
func (s *Session) onBus(what string, f func(context.Context) error, done chan<- error) {
	s.toNodes.post(func() {
		ctx, cancel := context.WithTimeout(context.Background(), busTimeout)
		defer cancel()
		err := f(ctx)
		if err != nil {
			s.log.Warn("cluster: not shared", "what", what, "err", err)
		}
		if done != nil {
			done <- err
		}
	})
}

func (s *Session) putRecord(set, key string, v any) func(context.Context) error {
	b, err := json.Marshal(v)
	return func(ctx context.Context) error {
		if err != nil {
			return err
		}
		return s.srv.bus.Put(ctx, set, key, b)
	}
}

// readRecord reads the record key of set from the bus into v; notFound is
// the error of an absent one.
func (srv *Server) readRecord(ctx context.Context, set, key string, notFound error, v any) error {
	b, err := srv.bus.Get(ctx, set, key)
	switch {
	case errors.Is(err, cluster.ErrNotFound):
		return fmt.Errorf("%w: %q", notFound, key)
	case err != nil:
		return fmt.Errorf("%w: %w", ErrClusterUnavailable, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("crossbar: %s record %s: %w", set, key, err)
	}
	return nil
}

func (s *Session) deleteRecord(set, key string) func(context.Context) error {
	return func(ctx context.Context) error { return s.srv.bus.Delete(ctx, set, key) }
}

// commandLocked asks the node that serves a connection or stream to act
// on it. It fails at once if the bus is known to be down.
func (s *Session) commandLocked(kind, id string, reason Reason) error {
	if err := s.srv.busUp(); err != nil {
		return err
	}
	s.sendToNodes(nodeMessage{Kind: kind, ID: id, Reason: reason}, nil)
	return nil
}

// joinCluster subscribes to the session's topic and loads what the other
// nodes serve, when the session comes to life on this node.
func (s *Session) joinCluster(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, busTimeout)
	defer cancel()
	if err := s.srv.bus.Subscribe(ctx, s.topic()); err != nil {
		return err
	}
	return s.loadRecords(ctx)
}

// loadRecords reads the session's records and adds the connections and
// streams of live nodes the mirror lacks. Records of dead nodes are
// deleted.
func (s *Session) loadRecords(ctx context.Context) error {
	conns, err := s.srv.bus.Records(ctx, s.connSet())
	if err != nil {
		return err
	}
	streams, err := s.srv.bus.Records(ctx, s.streamSet())
	if err != nil {
		return err
	}
	archives, err := s.srv.bus.Records(ctx, s.archiveSet())
	if err != nil {
		return err
	}
	alive := s.srv.members()
	s.mu.Lock()
	defer s.unlock()
	for _, b := range conns {
		var rec connRecord
		if json.Unmarshal(b, &rec) != nil || rec.Node == s.nodeID() {
			continue
		}
		s.mirrorConnectionLocked(&rec)
		if _, ok := alive[rec.Node]; !ok && alive != nil {
			if c := s.conns[rec.ID]; c != nil && c.node == rec.Node {
				s.orphanLocked(c) // its client may yet move to a live node
			}
		}
	}
	for _, b := range streams {
		var rec streamRecord
		if json.Unmarshal(b, &rec) == nil {
			s.mirrorStreamLocked(&rec)
		}
	}
	s.loadArchivesLocked(archives, alive)
	return nil
}

func (s *Session) deleteRecords(conns []string) func(context.Context) error {
	return func(ctx context.Context) error { return s.srv.bus.Delete(ctx, s.connSet(), conns...) }
}

// shareInventoryLocked writes the records of this node's connections and
// streams again and sends the other nodes their list, after the bus was
// lost: records and events may have been lost with it.
func (s *Session) shareInventoryLocked() {
	var m nodeMessage
	var puts []func(context.Context) error
	for _, c := range s.connectionsLocked() {
		if !c.remote() {
			rec := c.clusterRecord(s.nodeID())
			m.Conns = append(m.Conns, rec)
			puts = append(puts, s.putRecord(s.connSet(), c.id, rec))
		}
	}
	for _, st := range s.streamsLocked() {
		if !st.connection.remote() {
			rec := st.clusterRecord()
			m.Streams = append(m.Streams, rec)
			puts = append(puts, s.putRecord(s.streamSet(), st.id, rec))
		}
	}
	m.Kind = kindInventory
	s.sendToNodes(m, func(ctx context.Context) error {
		var errs []error
		for _, put := range puts {
			errs = append(errs, put(ctx))
		}
		return errors.Join(errs...)
	})
}

// applyInventoryLocked makes the mirror of a node's connections and
// streams match its inventory.
func (s *Session) applyInventoryLocked(m *nodeMessage) {
	listed := map[string]bool{}
	// The node that serves them says they are live, after what it said
	// before: they may come back from the dead (see Members).
	for _, rec := range m.Conns {
		listed[rec.ID] = true
		rec.Node = m.From
		s.gone.exhume(rec.ID)
		s.mirrorConnectionLocked(rec)
		if c := s.conns[rec.ID]; c != nil && c.node == m.From && c.grace != nil {
			c.grace.Stop() // its node was taken for dead: it is not
			c.grace = nil
		}
	}
	for _, rec := range m.Streams {
		listed[rec.ID] = true
		s.gone.exhume(rec.ID)
		s.mirrorStreamLocked(rec)
	}
	for _, st := range s.streamsLocked() {
		if st.connection.node == m.From && !listed[st.id] {
			s.removeStreamLocked(st, ReasonNetworkDisconnected)
		}
	}
	for _, c := range s.connectionsLocked() {
		if c.node == m.From && !listed[c.id] {
			s.removeLocked(c, ReasonNetworkDisconnected)
		}
	}
}

// mirrorConnectionLocked adds a connection another node serves, unless it
// is known or gone.
func (s *Session) mirrorConnectionLocked(rec *connRecord) {
	if s.conns[rec.ID] != nil || s.tombstoned(rec.ID) || rec.Node == "" {
		return
	}
	c := &Connection{
		id:      rec.ID,
		session: s,
		token: &TokenInfo{ID: rec.TokenID, Role: rec.Role, Data: rec.Data, SessionID: s.info.ID,
			ExpireTime: time.UnixMilli(rec.Expires)},
		created: time.UnixMilli(rec.Created),
		node:    rec.Node,
		quiet:   rec.Quiet,
		decodes: rec.Decodes,
		keyHash: rec.Key,
		epoch:   rec.Epoch,
		out:     newOutbox(),
	}
	s.addConnectionLocked(c)
	s.joinCodecsLocked(c)
}

// mirrorStreamLocked adds a stream another node serves, unless it is
// known or gone, or its connection is unknown.
func (s *Session) mirrorStreamLocked(rec *streamRecord) {
	c := s.conns[rec.ConnectionID]
	if s.streams[rec.ID] != nil || s.tombstoned(rec.ID) || c == nil || !c.remote() {
		return
	}
	st := &Stream{
		id:            rec.ID,
		connection:    c,
		created:       time.UnixMilli(rec.Created),
		name:          rec.Name,
		videoType:     rec.VideoType,
		hasAudio:      rec.HasAudio,
		hasVideo:      rec.HasVideo,
		captions:      rec.HasCaptions,
		dimensions:    Dimensions{Width: rec.Width, Height: rec.Height},
		layoutClasses: rec.Layout,
	}
	if len(rec.Tracks) > 0 && s.info.MediaMode == Routed {
		// Its media comes over a node link when someone here subscribes.
		st.remoteTracks = rec.Tracks
		st.pub = &Publisher{stream: st}
	}
	s.addStreamLocked(st)
}

// tombstoned reports whether a connection or stream of that id ended
// lately: a record read late must not bring it back.
func (s *Session) tombstoned(id string) bool { return s.gone.has(id) }

// buryLocked remembers that id ended, for a minute.
func (s *Session) buryLocked(id string) {
	if s.clustered() {
		s.gone.bury(id, time.Now())
	}
}

// graveTime is how long a graveyard remembers an id.
const graveTime = time.Minute

// graveyard holds the ids of the connections and streams that ended in
// the last graveTime. Burying forgets the expired ones from the oldest
// on, and stops at the first that is not: it costs the same however many
// ended lately, as in a leave storm.
type graveyard struct {
	ids   map[string]time.Time // when each was buried last
	order []grave              // every burial, oldest first
}

type grave struct {
	id string
	at time.Time
}

func (g *graveyard) has(id string) bool {
	_, ok := g.ids[id]
	return ok
}

// exhume forgets that id ended.
func (g *graveyard) exhume(id string) { delete(g.ids, id) }

// bury remembers id as ended at now, which is never before the last
// burial's.
func (g *graveyard) bury(id string, now time.Time) {
	for len(g.order) > 0 && now.Sub(g.order[0].at) > graveTime {
		if old := g.order[0]; g.ids[old.id].Equal(old.at) {
			delete(g.ids, old.id) // not buried again since
		}
		g.order[0] = grave{}
		g.order = g.order[1:]
	}
	if g.ids == nil {
		g.ids = map[string]time.Time{}
	}
	g.ids[id] = now
	g.order = append(g.order, grave{id, now})
}

// apply carries out what another node said of the session.
func (s *Session) apply(m *nodeMessage) {
	s.mu.Lock()
	defer s.unlock()
	switch m.Kind {
	case kindConnectionCreated:
		if m.Conn != nil {
			m.Conn.Node = m.From
			s.mirrorConnectionLocked(m.Conn)
		}
	case kindConnectionDestroyed:
		if c := s.conns[m.ID]; c != nil && c.remote() {
			s.removeLocked(c, m.Reason)
		}
	case kindStreamCreated:
		if m.Stream != nil {
			s.mirrorStreamLocked(m.Stream)
		}
	case kindStreamDestroyed:
		if st := s.streams[m.ID]; st != nil && st.connection.remote() {
			s.removeStreamLocked(st, m.Reason)
		}
	case kindStreamChanged:
		s.applyChangeLocked(m)
	case kindCaption:
		if m.Caption != nil {
			s.deliverCaptionLocked(m.ID, m.Caption)
		}
	case kindSignal:
		s.applySignalLocked(m.Signal)
	case kindMuteAll:
		s.muteAllLocked(m.Active, m.Excluded, true)
	case kindDisconnect:
		if c := s.conns[m.ID]; c != nil && !c.remote() {
			s.removeLocked(c, m.Reason)
		}
	case kindUnpublish:
		if st := s.streams[m.ID]; st != nil && !st.connection.remote() {
			s.removeStreamLocked(st, m.Reason)
		}
	case kindMuteStream:
		if st := s.streams[m.ID]; st != nil && !st.connection.remote() {
			s.forceMuteStreamLocked(st)
		}
	case kindSetLayout:
		if st := s.streams[m.ID]; st != nil && !st.connection.remote() {
			s.setLayoutLocked(st, m.Classes)
		}
	case kindArchiveStarted, kindArchiveEnded:
		if m.Archive != nil {
			s.applyArchiveLocked(archiveRecord{*m.Archive, m.From}, m.Kind == kindArchiveStarted)
		}
	case kindSessionClosed:
		s.closeLocked()
	case kindInventory:
		s.applyInventoryLocked(m)
	case kindAdopted:
		if m.Conn != nil {
			s.applyAdoptedLocked(m.Conn, m.From)
		}
	case kindCatchUp:
		s.sendMissedLocked(m.ID, m.Marks)
	case kindMissed:
		s.applyMissedLocked(m.ID, m.From, m.Origin, m.Missed)
	case kindStreamMoved:
		if m.Stream != nil {
			s.applyStreamMovedLocked(m.Stream, m.From)
		}
	case kindRelaySubscribe, kindRelayUnsubscribe, kindRelay:
		s.applyRelayLocked(m.Kind, m.Relay)
	}
}

// applyChangeLocked applies a stream's new properties and tells of the
// change.
func (s *Session) applyChangeLocked(m *nodeMessage) {
	st := s.streams[m.Stream.ID]
	if st == nil || !st.connection.remote() {
		return
	}
	if m.Property == layoutProperty {
		st.layoutClasses = m.Stream.Layout
		s.emitLocked(layoutChanged{st}) // for this node's archives and broadcasts
		return
	}
	var old any
	switch m.Property {
	case "hasAudio", "hasVideo", "hasCaptions":
		var b bool
		if json.Unmarshal(m.Old, &b) != nil {
			return
		}
		old = b
	case "videoDimensions":
		var d Dimensions
		if json.Unmarshal(m.Old, &d) != nil {
			return
		}
		old = d
	default:
		return
	}
	st.hasAudio, st.hasVideo, st.captions = m.Stream.HasAudio, m.Stream.HasVideo, m.Stream.HasCaptions
	st.dimensions = Dimensions{Width: m.Stream.Width, Height: m.Stream.Height}
	var v any
	switch m.Property {
	case "hasAudio":
		v = st.hasAudio
	case "hasVideo":
		v = st.hasVideo
	case "hasCaptions":
		v = st.captions
	default:
		v = st.dimensions
	}
	s.propertyChangedLocked(st, m.Property, old, v)
}

// applySignalLocked delivers a signal sent on another node to this node's
// recipients, and to the host.
func (s *Session) applySignalLocked(r *signalRecord) {
	if r == nil {
		return
	}
	sig := Signal{Type: r.Type, Data: r.Data}
	if r.From != "" {
		sig.From = s.conns[r.From]
	}
	ev := signalSent{sig: sig, remote: true, origin: r.Origin, n: r.N}
	if r.To != "" {
		if sig.To = s.conns[r.To]; sig.To == nil {
			return
		}
		if ev.sig.To = sig.To; sig.To.remote() {
			s.logSignalLocked(ev, nil) // for its client, should it move here
			return
		}
	}
	s.emitLocked(ev)
}

// reachableLocked returns why a stream another node serves cannot be
// subscribed to from here, if it cannot: the bus is down, or no track of
// it is known. A stream of this node's is always reachable.
func (s *Session) reachableLocked(st *Stream) error {
	if !st.connection.remote() {
		return nil
	}
	if err := s.srv.busUp(); err != nil {
		return err
	}
	if st.pub == nil && s.info.MediaMode == Routed {
		return fmt.Errorf("%w: %q: node %s announced no track of it", ErrStreamNotFound, st.id, st.connection.node)
	}
	return nil
}

// busUp returns ErrClusterUnavailable while the bus cannot be reached.
func (srv *Server) busUp() error {
	if err := srv.bus.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrClusterUnavailable, err)
	}
	return nil
}

// members returns the nodes alive, as the bus last reported them; nil
// before its first report.
func (srv *Server) members() map[string]cluster.Node {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.alive
}

// busHandler receives what the cluster's bus delivers to the server.
type busHandler struct{ srv *Server }

func (h busHandler) Message(topic string, payload []byte) {
	srv := h.srv
	var m nodeMessage
	if err := json.Unmarshal(payload, &m); err != nil || m.V != clusterVersion {
		srv.log.Warn("cluster: message ignored", "topic", topic, "err", err, "version", m.V)
		return
	}
	if m.From == srv.bus.Node().ID {
		return // this node's own, applied already
	}
	if topic == nodeTopic(srv.bus.Node().ID) {
		switch m.Kind {
		case kindArchiveCall, kindArchiveAnswer:
			srv.archiveMessage(&m)
		case kindBroadcastCall:
			srv.broadcastMessage(&m)
		case kindBroadcastAnswer:
			srv.takeAnswer(&m)
		default:
			srv.linkMessage(&m)
		}
		return
	}
	if topic == revocationsTopic {
		if m.Kind == kindRevoked {
			srv.endRevoked(m.TokenID)
		}
		return
	}
	srv.mu.Lock()
	var s *Session
	for _, x := range srv.sessions {
		if x.topic() == topic {
			s = x
			break
		}
	}
	srv.mu.Unlock()
	if s != nil {
		s.apply(&m)
	}
}

// Members orphans the connections of nodes that left, in every live
// session: they wait for their clients to move to a live node, for the
// reconnect grace period (move.go). A node taken for dead that comes back
// (its heartbeats were late: a stalled process, a slow network) is asked
// to share its inventory again, which ends the wait.
func (h busHandler) Members(alive map[string]cluster.Node) {
	srv := h.srv
	srv.mu.Lock()
	if srv.departed == nil {
		srv.departed = map[string]bool{}
	}
	for node := range srv.alive {
		if _, ok := alive[node]; !ok {
			srv.departed[node] = true
		}
	}
	var back []string
	for node := range srv.departed {
		if _, ok := alive[node]; ok {
			back = append(back, node)
			delete(srv.departed, node)
		}
	}
	srv.alive = alive
	live := slices.Collect(maps.Values(srv.sessions))
	srv.mu.Unlock()
	for _, s := range live {
		s.mu.Lock()
		orphans := 0
		for _, c := range s.connectionsLocked() {
			if _, ok := alive[c.node]; c.remote() && !ok && c.grace == nil {
				orphans++
				s.orphanLocked(c)
			}
		}
		if orphans > 0 {
			s.log.Info("cluster: a node left; its connections wait for their clients", "connections", orphans)
		}
		s.endArchivesOfLocked(alive)
		s.unlock()
	}
	for _, node := range srv.linkedNodes() {
		if _, ok := alive[node]; !ok {
			srv.dropLinks(node)
		}
	}
	for _, node := range back {
		srv.log.Warn("cluster: a node taken for dead is back", "node", node)
		srv.toNode(node, nodeMessage{Kind: kindResync})
	}
}

// shareInventories shares this node's inventory of every live session.
func (srv *Server) shareInventories() []*Session {
	srv.mu.Lock()
	live := slices.Collect(maps.Values(srv.sessions))
	srv.mu.Unlock()
	for _, s := range live {
		s.mu.Lock()
		s.shareInventoryLocked()
		s.unlock()
	}
	return live
}

// Reconnected shares this node's inventory of every live session again,
// reads the others' records, and asks them for the signals missed.
func (h busHandler) Reconnected() {
	for _, s := range h.srv.shareInventories() {
		ctx, cancel := context.WithTimeout(context.Background(), busTimeout)
		if err := s.loadRecords(ctx); err != nil {
			s.log.Warn("cluster: resync failed", "err", err)
		}
		cancel()
		s.mu.Lock()
		s.catchUpAfterOutageLocked()
		s.unlock()
	}
}
