package crossbar

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"iter"
	"maps"
	"slices"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar/cluster"
	"github.com/crossbar-rtc/crossbar/sfu"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// A connection moves between the nodes of a cluster when its client
// resumes on another node than the one that served it: that one died, is
// draining (Server.Shutdown), or the load balancer chose so. The node the
// client comes to adopts the connection, which keeps its id, its streams
// and their ids: nobody sees it leave (PROTOCOL.md, "Moving to another
// node"). The old node, if alive, yields it; every node then takes the
// connection's streams from the new node once its client has published
// them there again, and moves its own clients' subscriptions to them.
// Until then the streams stay, frozen, or carry on from the old node while
// it lives. The connections of a dead node wait, orphaned, for their
// clients on every node for the reconnect grace period.

// Bounds on a yielded connection's old media, which keeps forwarding its
// streams from the old node: it closes once they all come from the new
// node, but not before moveLinger (the client may still need its old
// subscriptions), and after moveTimeout at the latest.
const (
	moveLinger  = 3 * time.Second
	moveTimeout = 15 * time.Second
)

// keyHash is what the nodes keep of a connection's resume key: enough to
// check a key, not to make one.
func keyHash(key string) string {
	h := sha256.Sum256([]byte(key))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// supersedes reports whether a claim on a connection, the epoch-th by
// node, wins over the claim (epoch0, node0) a node knows: two nodes that
// adopt the same connection at once agree on which keeps it.
func supersedes(epoch int, node string, epoch0 int, node0 string) bool {
	return epoch > epoch0 || (epoch == epoch0 && node > node0)
}

// adoptLocked takes over c, a connection another node served, for its
// client, who resumes here with r and a token whose id matches c's. The
// client gets the whole session state, then the signals it missed; the
// other nodes learn that c is now this node's.
func (s *Session) adoptLocked(c *Connection, tok *TokenInfo, r resumeRequest, l *link, re uint64) (*Connection, error) {
	if c.keyHash == "" || subtle.ConstantTimeCompare([]byte(c.keyHash), []byte(keyHash(r.key))) != 1 || c.token.ID != tok.ID {
		return nil, fmt.Errorf("%w: no connection %q to resume", ErrConnectionNotFound, c.id)
	}
	if err := s.srv.busUp(); err != nil {
		return nil, err // the others must hear of it
	}
	from := c.node
	c.node, c.epoch, c.resumeKey = "", c.epoch+1, r.key
	s.repointLocked(c)
	c.listens, c.addr = !r.suppressed, r.addr
	if c.grace != nil {
		c.grace.Stop()
		c.grace = nil
	}
	s.joinBudgetsLocked(c)
	moving := false
	for _, st := range s.streamsLocked() {
		if st.connection == c && st.pub != nil {
			st.moved, moving = true, true
			a, v := st.pub.tracks()
			st.retired = []*sfu.Track{a, v}
		}
	}
	c.unconfirmed = true
	s.attachLocked(c, l, re, attachMoved, c.sentCount())
	// The node it left hears of it before it is asked for what the client
	// missed: a signal to it there from then on comes here by the bus, and
	// one before is in the answer.
	rec := c.clusterRecord(s.nodeID())
	s.sendToNodes(nodeMessage{Kind: kindAdopted, Conn: rec}, s.putRecord(s.connSet(), c.id, rec))
	s.catchUpLocked(c, r.signals, r.nodes)
	if moving {
		s.awaitMovedLocked(c)
	}
	s.log.Info("connection moved here", "connection", c.id, "from", from)
	return c, nil
}

// awaitMovedLocked gives the client of a connection that moved here
// PublishTimeout to publish its streams again, and again while its new
// publishing peer connection is on its way (connecting, or connected with
// the tracks a moment behind: a node that takes many clients at once, as
// in a drain, may take seconds to shake hands with them all), up to
// movedPublishWaits times in all; those whose tracks have not all arrived
// then end, reason mediaStopped.
func (s *Session) awaitMovedLocked(c *Connection) {
	c.media.publishing = webrtc.PeerConnectionStateNew // of a peer connection it may have had here before
	s.awaitMovedFor(c, movedPublishWaits)
}

// movedPublishWaits bounds the PublishTimeouts a moved stream waits for
// its tracks.
const movedPublishWaits = 3

func (s *Session) awaitMovedFor(c *Connection, waits int) {
	time.AfterFunc(s.srv.cfg.Media.PublishTimeout, func() {
		s.engine.post(func() {
			s.mu.Lock()
			defer s.unlock()
			waiting := slices.DeleteFunc(s.streamsLocked(), func(st *Stream) bool { return st.connection != c || !st.moved })
			if c.remote() || c.gone || len(waiting) == 0 {
				return
			}
			switch c.media.publishing {
			case webrtc.PeerConnectionStateConnecting, webrtc.PeerConnectionStateConnected:
				waits--
			default:
				waits = 0
			}
			if waits > 0 && c.link != nil {
				s.awaitMovedFor(c, waits)
				return
			}
			for _, st := range waiting {
				s.forgetPendingLocked(c, st)
				s.removeStreamLocked(st, ReasonMediaStopped)
			}
		})
	})
}

// applyAdoptedLocked follows another node's adoption of a connection: a
// mirror is repointed, and a connection of this node's is yielded, unless
// this node's own claim on it wins.
func (s *Session) applyAdoptedLocked(rec *connRecord, node string) {
	rec.Node = node
	c := s.conns[rec.ID]
	switch {
	case c == nil:
		s.gone.exhume(rec.ID)
		s.mirrorConnectionLocked(rec)
	case c.remote():
		if supersedes(rec.Epoch, node, c.epoch, c.node) {
			c.node, c.epoch = node, rec.Epoch
			s.repointLocked(c)
			if c.grace != nil { // an orphan: taken over
				c.grace.Stop()
				c.grace = nil
			}
		}
	case !c.inProcess && supersedes(rec.Epoch, node, c.epoch, s.nodeID()):
		s.yieldLocked(c, rec)
	}
}

// repointLocked stops the imports of c's streams from the node that
// served it before.
func (s *Session) repointLocked(c *Connection) {
	for _, st := range s.streams {
		if st.connection == c && st.repointed != nil {
			close(st.repointed)
			st.repointed = nil
		}
	}
}

// yieldLocked hands c, a connection of this node's, to the node that took
// it over: its transport here is dropped without a goodbye, and its media
// keeps forwarding its streams until they come from the new node.
func (s *Session) yieldLocked(c *Connection, rec *connRecord) {
	if c.link != nil {
		close(c.link.done)
		signaling.CloseNow(c.link.t)
		c.link = nil
	}
	if c.grace != nil {
		c.grace.Stop()
		c.grace = nil
	}
	c.node, c.epoch, c.resumeKey = rec.Node, rec.Epoch, ""
	s.leaveBudgetsLocked(c)
	for _, st := range s.streams {
		if st.connection == c && st.moved {
			st.moved = false // its tracks go to the node that took it
			s.later(func() { s.srv.releaseHeld(st.id) })
		}
	}
	if s.info.MediaMode == Routed {
		s.retireMediaLocked(c)
	}
	s.log.Info("connection moved away", "connection", c.id, "to", rec.Node)
}

// retireMediaLocked sets aside the media of a yielded connection: its
// subscriptions here end with it, its streams not yet announced end, and
// its peer forwards its announced streams until they have all moved (see
// moveLinger).
func (s *Session) retireMediaLocked(c *Connection) {
	m := &c.media
	for mid, st := range m.pending {
		delete(m.pending, mid)
		if s.streams[st.id] != st {
			s.removeStreamLocked(st, ReasonMediaStopped)
		}
	}
	m.subs = nil
	m.failed = false
	m.stopRestartWait()
	m.mu.Lock()
	peer := m.peer
	m.peer = nil
	m.mu.Unlock()
	if peer == nil {
		return
	}
	s.dropRetiredLocked(c)
	c.retired = &retiredMedia{peer: peer, since: time.Now()}
	c.retired.timer = time.AfterFunc(moveLinger, func() {
		s.mu.Lock()
		defer s.unlock()
		s.closeRetiredLocked(c, false)
	})
}

// retiredMedia is a yielded connection's media on its old node.
type retiredMedia struct {
	peer  *sfu.Peer
	since time.Time
	timer *time.Timer
}

// closeRetiredLocked closes a yielded connection's old media once its
// streams all moved and moveLinger is over, or when force is set or
// moveTimeout is over; otherwise it checks again when moveTimeout is.
func (s *Session) closeRetiredLocked(c *Connection, force bool) {
	r := c.retired
	if r == nil {
		return
	}
	age := time.Since(r.since)
	if !force && age < moveTimeout {
		if age < moveLinger {
			return // the linger timer comes back
		}
		for _, st := range s.streams {
			if st.connection == c && st.pub != nil && st.remoteTracks == nil {
				r.timer.Reset(moveTimeout - age)
				return // still forwarded from here
			}
		}
	}
	s.dropRetiredLocked(c)
}

// dropRetiredLocked closes a connection's retired media now, if any.
func (s *Session) dropRetiredLocked(c *Connection) {
	if r := c.retired; r != nil {
		c.retired = nil
		r.timer.Stop()
		s.later(func() { _ = r.peer.Close() })
	}
}

// orphanLocked starts the wait of a dead node's connection for its client
// to resume on a live node; it ends, reason networkDisconnected, when the
// reconnect grace period is over first.
func (s *Session) orphanLocked(c *Connection) {
	grace := s.srv.cfg.ReconnectGrace
	if grace <= 0 {
		s.expireOrphanLocked(c)
		return
	}
	if c.grace != nil {
		return
	}
	node := c.node
	c.grace = s.srv.cfg.Clock.AfterFunc(grace, func() {
		s.mu.Lock()
		defer s.unlock()
		if !c.gone && c.node == node {
			s.expireOrphanLocked(c)
		}
	})
}

func (s *Session) expireOrphanLocked(c *Connection) {
	c.orphaned = true
	s.removeLocked(c, ReasonNetworkDisconnected)
	s.onBus("records of a dead node", s.deleteRecords([]string{c.id}), nil)
	if hooks := s.orphanHooks; len(hooks) > 0 {
		s.orphanHooks = nil
		s.onBus("webhooks of a dead node's connection", s.postOrphanHooks(c.id, hooks), nil)
	}
}

// postOrphanHooks sends the webhooks of the end of a dead node's
// connection, its streams' and its own, if this node is the first of the
// live nodes to claim them: each live node removes the connection, one
// tells the host.
func (s *Session) postOrphanHooks(connID string, hooks []*sessionEvent) func(context.Context) error {
	return func(ctx context.Context) error {
		first, err := s.srv.bus.Claim(ctx, "webhooks:orphan:"+connID, time.Hour)
		if first {
			for _, cb := range hooks {
				s.srv.hooks.post(cb)
			}
		}
		return err
	}
}

// movedHereLocked follows the arrival of every track of a stream whose
// connection moved here: the stream's subscribers here move to them, and
// the other nodes are told to take the stream from here.
func (s *Session) movedHereLocked(st *Stream) {
	st.moved = false
	retired := st.retired
	st.retired, st.remoteTracks = nil, nil
	rec := st.clusterRecord()
	s.sendToNodes(nodeMessage{Kind: kindStreamMoved, Stream: rec}, s.putRecord(s.streamSet(), rec.ID, rec))
	s.rebindLocked(st, nil, retired)
	s.later(func() { s.srv.releaseHeld(st.id) })
	s.log.Info("stream moved here", "stream", st.id)
}

// applyStreamMovedLocked follows a stream's move to node: its
// subscribers here move to its tracks there, and the old ones close.
func (s *Session) applyStreamMovedLocked(rec *streamRecord, node string) {
	st := s.streams[rec.ID]
	if st == nil {
		s.mirrorStreamLocked(rec)
		return
	}
	c := st.connection
	if c.node != node || st.pub == nil {
		return // not the stream's node, as far as this one knows; or relayed
	}
	a, v := st.pub.tracks()
	var kinds []string // what was here is brought from there
	for _, t := range []*sfu.Track{a, v} {
		if t != nil {
			kinds = append(kinds, t.Kind().String())
		}
	}
	st.remoteTracks = rec.Tracks
	s.rebindLocked(st, kinds, []*sfu.Track{a, v})
	if c.retired != nil {
		s.closeRetiredLocked(c, false)
	}
}

// rebindLocked moves the subscriptions of this node's clients to st's new
// tracks, brings from st's node the tracks of the given kinds first (none:
// they are here), then closes the retired tracks. It works off the lock,
// on a goroutine: an import takes a round trip between nodes.
func (s *Session) rebindLocked(st *Stream, kinds []string, retired []*sfu.Track) {
	var subs []*Subscriber
	for _, c := range s.conns {
		if sub := c.media.subs[st.id]; sub != nil && !c.remote() && st.pub != nil {
			subs = append(subs, sub)
		}
	}
	s.later(func() {
		go func() {
			defer closeTracks(retired)
			if err := s.importTracks(context.Background(), st, kinds...); err != nil {
				s.log.Warn("a moved stream did not arrive", "stream", st.id, "err", err)
				return
			}
			for _, sub := range subs {
				s.resubscribe(sub)
			}
		}()
	})
}

// resubscribe moves a client's subscription to its stream's current
// tracks, keeping what it had paused.
func (s *Session) resubscribe(sub *Subscriber) {
	c := sub.conn
	sub.mu.Lock()
	old := []*sfu.DownTrack{sub.audio, sub.video}
	sub.mu.Unlock()
	audio := old[0] == nil || !old[0].Paused()
	video := old[1] == nil || !old[1].Paused()
	s.mu.Lock()
	live := !c.gone && c.media.subs[sub.stream.id] == sub
	s.unlock()
	if !live {
		return
	}
	if err := s.attachSubscriber(c, sub, audio, video); err != nil {
		s.log.Warn("a subscription did not follow its stream's move", "stream", sub.stream.id, "connection", c.id, "err", err)
		return
	}
	c.media.mu.Lock()
	peer := c.media.peer
	c.media.mu.Unlock()
	for _, d := range old {
		if d != nil && peer != nil {
			_ = peer.Unsubscribe(d) // gone already with its track: fine
		}
	}
}

func closeTracks(list []*sfu.Track) {
	for _, t := range list {
		if t != nil {
			t.Close()
		}
	}
}

// signalLogSize bounds the signals a session keeps for clients that move
// here, in number and in bytes.
const (
	signalLogSize  = 512
	signalLogBytes = 1 << 20
)

// loggedSignal is a signal delivered on this node, kept for replay.
type loggedSignal struct {
	origin string
	n      uint64
	to     string // connection id; empty: everyone
	msg    []byte // encoded
}

// signalLog keeps the last signals delivered on a node, oldest first, and
// the highest number delivered of each origin (its marks).
type signalLog struct {
	list    []loggedSignal
	bytes   int
	highest map[string]uint64
}

func (l *signalLog) add(e loggedSignal) {
	if l.highest == nil {
		l.highest = map[string]uint64{}
	}
	l.highest[e.origin] = max(l.highest[e.origin], e.n)
	l.list = append(l.list, e)
	l.bytes += len(e.msg)
	for len(l.list) > signalLogSize || l.bytes > signalLogBytes {
		l.bytes -= len(l.list[0].msg)
		l.list[0] = loggedSignal{}
		l.list = l.list[1:]
	}
}

// catchUpTime bounds the wait of a connection that moved here for the
// signals it missed from the other nodes; it asks again every
// catchUpRetry those that have not answered (they may not listen on the
// session's topic yet: Redis keeps nothing for them).
const (
	catchUpTime  = 5 * time.Second
	catchUpRetry = 250 * time.Millisecond
)

// catchUp is what a connection that moved here got of the signals: its
// client's marks, by origin, and the numbers sent since above them; and,
// while the other nodes (waiting) have not sent it the signals of theirs
// it missed, the signals that came since (held), which follow: of every
// origin, as a client that moved sends through two (its own signals, to
// itself, came after those it sent before the move).
type catchUp struct {
	marks   map[string]uint64
	got     map[string]map[uint64]bool
	waiting map[string]bool // by node id
	held    []loggedSignal
}

// has reports whether the client got signal n of origin.
func (cu *catchUp) has(origin string, n uint64) bool {
	return n <= cu.marks[origin] || cu.got[origin][n]
}

func (cu *catchUp) add(origin string, n uint64) {
	if cu.got[origin] == nil {
		cu.got[origin] = map[uint64]bool{}
	}
	cu.got[origin][n] = true
}

// catchUpLocked queues for c, a connection that moved here, the signals
// for it in this node's log that its client had not received (numbered
// above its marks for their origins), and asks the other nodes alive
// (nodes) for theirs: this node may have come to the session just now, and
// their clients' signals to c may have missed it. Until each has answered,
// or catchUpTime is over, its new signals to c wait, so that c gets each
// signal once, and those of one origin in order.
func (s *Session) catchUpLocked(c *Connection, marks map[string]uint64, nodes map[string]cluster.Node) {
	cu := &catchUp{marks: marks, got: map[string]map[uint64]bool{}, waiting: map[string]bool{}}
	for id := range nodes {
		if id != s.nodeID() {
			cu.waiting[id] = true
		}
	}
	c.catching = cu
	for _, e := range s.signals.list {
		if (e.to == "" || e.to == c.id) && !cu.has(e.origin, e.n) {
			cu.held = append(cu.held, e) // after what the others missed, which came before
		}
	}
	if len(cu.waiting) == 0 {
		s.caughtUpLocked(c, nil)
		return
	}
	s.askMissedLocked(c, cu, time.Now().Add(catchUpTime))
}

// askMissedLocked asks the nodes c waits for for the signals of theirs it
// missed, and again every catchUpRetry until they have all answered or the
// deadline is past: then c waits no more.
func (s *Session) askMissedLocked(c *Connection, cu *catchUp, deadline time.Time) {
	if time.Now().After(deadline) {
		s.caughtUpLocked(c, maps.Keys(cu.waiting))
		return
	}
	s.sendToNodes(nodeMessage{Kind: kindCatchUp, ID: c.id, Marks: cu.marks}, nil)
	time.AfterFunc(catchUpRetry, func() {
		s.mu.Lock()
		defer s.unlock()
		if c.catching == cu {
			s.askMissedLocked(c, cu, deadline)
		}
	})
}

// catchUpAfterOutageLocked has every client connection here catch up
// with the signals this node missed while the bus was lost: Redis keeps
// no message for a node not subscribed, and the nodes subscribe again
// each at its own pace once it is back. The marks are the highest of each
// origin delivered here; the nodes asked, those alive with connections in
// the session.
func (s *Session) catchUpAfterOutageLocked() {
	alive := s.srv.members()
	nodes := map[string]cluster.Node{}
	for _, c := range s.conns {
		if n, ok := alive[c.node]; ok && c.remote() {
			nodes[c.node] = n
		}
	}
	for _, c := range s.conns {
		if !c.remote() && !c.inProcess && c.catching == nil {
			s.catchUpLocked(c, maps.Clone(s.signals.highest), nodes)
		}
	}
}

// send queues e for c unless its client has it. The caller holds the
// session's lock.
func (cu *catchUp) send(c *Connection, e loggedSignal) {
	if !cu.has(e.origin, e.n) {
		cu.add(e.origin, e.n)
		c.sendSignal(e.msg)
	}
}

// sendSignalLocked sends c a signal, unless c waits for the signals it
// missed from the signal's node: then it waits with them.
func (s *Session) sendSignalLocked(c *Connection, ev signalSent, b []byte) bool {
	if cu := c.catching; cu != nil && ev.origin != "" {
		cu.held = append(cu.held, loggedSignal{origin: ev.origin, n: ev.n, msg: b})
		return true
	}
	return c.sendSignal(b)
}

// missedSignal is a signal a moved connection's client may lack.
type missedSignal struct {
	N   uint64 `json:"n"`
	Msg []byte `json:"msg"`
}

// sendMissedLocked sends the node that took connection id over the
// signals sent here for it above the marks of its client; none, if none:
// the answer is awaited.
func (s *Session) sendMissedLocked(id string, marks map[string]uint64) {
	var list []missedSignal
	origin := s.srv.origin
	for _, e := range s.signals.list {
		if e.origin == origin && e.n > marks[origin] && (e.to == "" || e.to == id) {
			list = append(list, missedSignal{N: e.n, Msg: e.msg})
		}
	}
	s.sendToNodes(nodeMessage{Kind: kindMissed, ID: id, Origin: origin, Missed: list}, nil)
}

// applyMissedLocked sends a connection that moved here the signals of
// node's it lacks, then those that came since.
func (s *Session) applyMissedLocked(id, node, origin string, list []missedSignal) {
	c := s.conns[id]
	if c == nil || c.remote() || c.catching == nil || !c.catching.waiting[node] {
		return
	}
	for _, e := range list {
		c.catching.send(c, loggedSignal{origin: origin, n: e.N, msg: e.Msg})
	}
	s.caughtUpLocked(c, slices.Values([]string{node}))
}

// caughtUpLocked ends c's wait for the signals of nodes (nil: none); once
// it waits for none, those held meanwhile go, in order.
func (s *Session) caughtUpLocked(c *Connection, nodes iter.Seq[string]) {
	cu := c.catching
	if nodes != nil {
		for node := range nodes {
			delete(cu.waiting, node)
		}
	}
	if len(cu.waiting) > 0 {
		return
	}
	c.catching = nil
	for _, e := range cu.held {
		cu.send(c, e)
	}
}

// logSignalLocked keeps a signal of a cluster's for clients that move
// here, encoded as b (nil: encoded here).
func (s *Session) logSignalLocked(ev signalSent, b []byte) {
	if ev.origin == "" {
		return
	}
	if b == nil {
		if b = signalMessage(ev); b == nil {
			return
		}
	}
	e := loggedSignal{origin: ev.origin, n: ev.n, msg: b}
	if ev.sig.To != nil {
		e.to = ev.sig.To.id
	}
	s.signals.add(e)
}

// askToMove asks every client connected here to move to another node.
func (s *Session) askToMove() {
	s.mu.Lock()
	defer s.unlock()
	for _, c := range s.conns {
		if !c.remote() && !c.inProcess {
			c.moving = true
			s.sendLocked(c, &signaling.Message{Type: signaling.TypeMove})
		}
	}
}

// clientsHere counts the client connections this node serves, and those
// that moved away whose old media still forwards their streams or
// subscriptions here (see moveLinger).
func (s *Session) clientsHere() int {
	s.mu.Lock()
	defer s.unlock()
	n := 0
	for _, c := range s.conns {
		if (!c.remote() && !c.inProcess) || c.retired != nil {
			n++
		}
	}
	return n
}
