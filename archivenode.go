package crossbar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/crossbar-rtc/crossbar/cluster"
)

// Archives across a cluster: an archive records on the node that started
// it, and its record, written on the bus at each change of its status,
// lets every node get and list it. What changes an archive (stop, delete,
// its streams, its layout) is done by the node that records it, asked on
// its node topic by the node the host called; an archive of a node that
// left the cluster while it recorded is failed, and may be deleted.

// archivesSet is the bus's set of archive records, by archive id.
const archivesSet = "archives"

// archiveRecord is an archive as the nodes know it.
type archiveRecord struct {
	Archive
	Node string
}

// archiveOp is what is done to an archive, here or on its node.
type archiveOp struct {
	Op     string         `json:"op"`
	Stream *ArchiveStream `json:"stream,omitempty"` // addStream, removeStream
	Layout *ArchiveLayout `json:"layout,omitempty"`
}

// The archive ops.
const (
	opStop         = "stop"
	opDelete       = "delete"
	opLayout       = "layout"
	opAddStream    = "addStream"
	opRemoveStream = "removeStream"
)

// The kinds of node messages about archives, on the receiving node's
// topic: a call (Call, ID: the archive, ArchiveOp) and its answer (Call,
// Archive or CallError).
const (
	kindArchiveCall   = "archiveCall"
	kindArchiveAnswer = "archiveAnswer"
)

// archiveCallTimeout bounds the wait for another node's answer: a stop
// waits for the archive's files to be complete.
const archiveCallTimeout = 30 * time.Second

// archiveDo does op on the archive id: here if this node records it, or on
// the node that does.
func (srv *Server) archiveDo(ctx context.Context, id string, op archiveOp) (Archive, error) {
	rec, err := srv.recording(id)
	if err == nil {
		return rec.do(ctx, op)
	}
	if srv.bus == nil {
		return Archive{}, err
	}
	r, err := srv.archiveRecord(ctx, id)
	if err != nil {
		return Archive{}, err
	}
	if !srv.nodeAlive(r.Node) {
		return srv.orphanDo(ctx, r, op)
	}
	return srv.callNode(ctx, r.Node, id, op)
}

// do does op on an archive this server records.
func (rec *recording) do(ctx context.Context, op archiveOp) (Archive, error) {
	var err error
	switch {
	case op.Op == opStop:
		return rec.stop("")
	case op.Op == opDelete:
		err = rec.delete(ctx)
	case op.Op == opLayout && op.Layout != nil:
		err = rec.setLayout(*op.Layout)
	case op.Op == opAddStream && op.Stream != nil:
		err = rec.addManual(*op.Stream)
	case op.Op == opRemoveStream && op.Stream != nil:
		err = rec.removeManual(op.Stream.StreamID)
	default:
		err = fmt.Errorf("%w: archive operation %q", ErrBadRequest, op.Op)
	}
	return Archive{}, err
}

// orphanDo does op on the archive of a node that left the cluster: it can
// only be deleted, from the Storage as this node reaches it.
func (srv *Server) orphanDo(ctx context.Context, r archiveRecord, op archiveOp) (Archive, error) {
	if op.Op != opDelete {
		return Archive{}, fmt.Errorf("%w: archive %s is %s: node %s that recorded it left", ErrArchiveConflict, r.ID, srv.archiveOf(r).Status, r.Node)
	}
	if err := srv.cfg.Archives.Remove(ctx, r.ID); err != nil {
		return Archive{}, fmt.Errorf("crossbar: delete archive %s: %w", r.ID, err)
	}
	if err := srv.bus.Delete(ctx, archivesSet, r.ID); err != nil {
		return Archive{}, fmt.Errorf("%w: %w", ErrClusterUnavailable, err)
	}
	return Archive{}, nil
}

// archiveRecord reads an archive's record from the bus.
func (srv *Server) archiveRecord(ctx context.Context, id string) (archiveRecord, error) {
	var r archiveRecord
	return r, srv.readRecord(ctx, archivesSet, id, ErrArchiveNotFound, &r)
}

// archiveOf is the archive a record describes now: one that records has
// recorded until now, unless its node left the cluster: then it failed.
func (srv *Server) archiveOf(r archiveRecord) Archive {
	a := r.Archive
	if a.Status != ArchiveStarted && a.Status != ArchivePaused {
		return a
	}
	if !srv.nodeAlive(r.Node) {
		a.Status, a.Reason = ArchiveFailed, "node "+r.Node+" left the cluster while it recorded"
		return a
	}
	a.Duration = srv.cfg.Clock.Now().Sub(a.CreatedAt)
	return a
}

// nodeAlive reports whether a node is in the cluster, as the bus last
// reported; any is before its first report.
func (srv *Server) nodeAlive(node string) bool {
	alive := srv.members()
	_, ok := alive[node]
	return ok || alive == nil
}

// clusterArchives returns the archives the bus has records of, by id;
// none outside a cluster.
func (srv *Server) clusterArchives(ctx context.Context) (map[string]Archive, error) {
	all := map[string]Archive{}
	if srv.bus == nil {
		return all, nil
	}
	recs, err := srv.bus.Records(ctx, archivesSet)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrClusterUnavailable, err)
	}
	for id, b := range recs {
		var r archiveRecord
		if json.Unmarshal(b, &r) == nil {
			all[id] = srv.archiveOf(r)
		}
	}
	return all, nil
}

// recordedElsewhere returns ErrArchiveConflict if another node records
// the session in an archive a new one tagged tag may not run beside.
func (srv *Server) recordedElsewhere(ctx context.Context, s *Session, tag string) error {
	if srv.bus == nil {
		return nil
	}
	all, err := srv.clusterArchives(ctx)
	if err != nil {
		return err
	}
	for _, a := range all {
		running := a.Status == ArchiveStarted || a.Status == ArchivePaused
		if running && a.SessionID == s.info.ID && tagsConflict(a.MultiArchiveTag, tag) {
			if rec, _ := srv.recording(a.ID); rec == nil {
				return fmt.Errorf("%w: session %s is being recorded (archive %s, on another node)", ErrArchiveConflict, s.info.ID, a.ID)
			}
		}
	}
	return nil
}

// alwaysClaimTTL is how long a node's claim to start a session's archive
// in archive mode always holds others back: until its record is written.
const alwaysClaimTTL = 2 * busTimeout

// recordAlways starts the archive of a session in archive mode always,
// unless another node records it or, in a race, starts it.
func (s *Session) recordAlways() {
	if s.clustered() {
		ctx, cancel := context.WithTimeout(context.Background(), busTimeout)
		defer cancel()
		if err := s.srv.recordedElsewhere(ctx, s, ""); err != nil {
			return
		}
		if won, err := s.srv.bus.Claim(ctx, "archive:"+s.info.ID, alwaysClaimTTL); err != nil || !won {
			s.log.Info("archive mode always: another node starts the archive", "err", err)
			return
		}
	}
	if _, err := s.startArchive(ArchiveOptions{Name: s.info.ArchiveName, StreamMode: StreamModeAuto, OutputMode: OutputIndividual}); err != nil && !errors.Is(err, ErrArchiveConflict) {
		s.log.Warn("archive mode always: no archive", "err", err)
	}
}

// archiveChanged tells of an archive's new status: the webhook, and the
// other nodes (its record), in order.
func (s *Session) archiveChanged(a Archive) {
	s.archiveStatusChanged(a)
	s.srv.hooks.post(archiveCallback{s.srv, a})
	if s.clustered() {
		s.onBus("archive", s.putRecord(archivesSet, a.ID, archiveRecord{a, s.nodeID()}), nil)
	}
}

// forgetArchive deletes the record of a deleted archive, after the
// writes of its record queued before.
func (s *Session) forgetArchive(ctx context.Context, id string) error {
	if !s.clustered() {
		return nil
	}
	done := make(chan error, 1)
	s.onBus("archive deleted", func(ctx context.Context) error { return s.srv.bus.Delete(ctx, archivesSet, id) }, done)
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%w: %w", ErrClusterUnavailable, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrClusterUnavailable, ctx.Err())
	}
}

// callNode asks node to do op on the archive id, and waits for its
// answer.
func (srv *Server) callNode(ctx context.Context, node, id string, op archiveOp) (Archive, error) {
	m, err := srv.nodeCall(ctx, node, nodeMessage{Kind: kindArchiveCall, ID: id, ArchiveOp: &op})
	if err != nil || m.Archive == nil {
		return Archive{}, err
	}
	return *m.Archive, nil
}

// nodeCall sends node the call m (an archive's or a broadcast's) and
// waits for its answer; the answer's CallError is the error.
func (srv *Server) nodeCall(ctx context.Context, node string, m nodeMessage) (*nodeMessage, error) {
	if err := srv.busUp(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, archiveCallTimeout)
	defer cancel()
	call, answer := newID(), make(chan *nodeMessage, 1)
	srv.mu.Lock()
	if srv.calls == nil {
		srv.calls = map[string]chan<- *nodeMessage{}
	}
	srv.calls[call] = answer
	srv.mu.Unlock()
	defer func() {
		srv.mu.Lock()
		delete(srv.calls, call)
		srv.mu.Unlock()
	}()
	m.Call = call
	srv.toNode(node, m)
	select {
	case a := <-answer:
		if a.CallError != nil {
			return nil, a.CallError.err()
		}
		return a, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: node %s did not answer about %s (%s): %w", ErrClusterUnavailable, node, m.ID, m.Kind, ctx.Err())
	}
}

// takeAnswer gives an answer to the call of this node's it answers.
func (srv *Server) takeAnswer(m *nodeMessage) {
	srv.mu.Lock()
	answer := srv.calls[m.Call]
	srv.mu.Unlock()
	if answer != nil {
		select {
		case answer <- m:
		default: // answered already
		}
	}
}

// archiveMessage carries out an archive call of another node's, or takes
// its answer to one of this node's.
func (srv *Server) archiveMessage(m *nodeMessage) {
	switch m.Kind {
	case kindArchiveCall:
		if m.ArchiveOp == nil {
			return
		}
		go func() { // a stop waits for the archive's files
			ctx, cancel := context.WithTimeout(context.Background(), archiveCallTimeout)
			defer cancel()
			answer := nodeMessage{Kind: kindArchiveAnswer, Call: m.Call}
			var a Archive
			rec, err := srv.recording(m.ID) // here, or nowhere
			if err == nil {
				a, err = rec.do(ctx, *m.ArchiveOp)
			}
			if err != nil {
				answer.CallError = callErrorOf(err)
			} else {
				answer.Archive = &a
			}
			srv.toNode(m.From, answer)
		}()
	case kindArchiveAnswer:
		srv.takeAnswer(m)
	}
}

// callError is an error crossing nodes: its Crossbar error, by index in
// callErrors, and its text.
type callError struct {
	Kind    int    `json:"kind"` // -1: none of callErrors
	Message string `json:"message"`
}

// callErrors are the errors an archive or broadcast call's answer keeps.
var callErrors = []error{ErrArchiveNotFound, ErrArchiveConflict, ErrInvalidOption, ErrBadRequest,
	ErrStreamNotFound, ErrNotSupported, ErrSessionClosed, ErrClusterUnavailable, ErrBroadcastNotFound, ErrBroadcastConflict}

func callErrorOf(err error) *callError {
	for i, e := range callErrors {
		if errors.Is(err, e) {
			return &callError{Kind: i, Message: err.Error()}
		}
	}
	return &callError{Kind: -1, Message: err.Error()}
}

// err is the error as the calling node returns it: errors.Is finds its
// Crossbar error.
func (c *callError) err() error {
	if c.Kind < 0 || c.Kind >= len(callErrors) {
		return errors.New(c.Message)
	}
	return &remoteError{kind: callErrors[c.Kind], message: c.Message}
}

// remoteError is an error another node returned.
type remoteError struct {
	kind    error
	message string
}

func (e *remoteError) Error() string { return e.message }
func (e *remoteError) Unwrap() error { return e.kind }

// A session's clients hear of its archives whichever node records them:
// the node that does tells the session's other nodes when one starts and
// when it ends (kindArchiveStarted, kindArchiveEnded, with the Archive),
// and keeps it in the session's set of recording archives meanwhile, read
// by a node where the session comes to life later. Each node tells its
// own clients and host, and its clients that join, as of its own
// archives. An archive whose node leaves the cluster ends, failed.

// The kinds of session messages about archives.
const (
	kindArchiveStarted = "archiveStarted"
	kindArchiveEnded   = "archiveEnded"
)

// archiveSet is the session's set of the archives that record it, by id.
func (s *Session) archiveSet() string { return s.topic() + ":archives" }

// shareArchiveLocked tells the other nodes that an archive this node
// records started or ended. The caller holds s.mu.
func (s *Session) shareArchiveLocked(a Archive, started bool) {
	if !started {
		s.sendToNodes(nodeMessage{Kind: kindArchiveEnded, Archive: &a}, s.deleteRecord(s.archiveSet(), a.ID))
		return
	}
	s.sendToNodes(nodeMessage{Kind: kindArchiveStarted, Archive: &a}, s.putRecord(s.archiveSet(), a.ID, archiveRecord{a, s.nodeID()}))
}

// applyArchiveLocked tells of an archive another node records that
// started (r) or ended. The caller holds s.mu.
func (s *Session) applyArchiveLocked(r archiveRecord, started bool) {
	_, known := s.elsewhere[r.ID]
	switch {
	case started && !known && !s.tombstoned(r.ID):
		if s.elsewhere == nil {
			s.elsewhere = map[string]archiveRecord{}
		}
		s.elsewhere[r.ID] = r
		s.emitLocked(archiveStarted{a: r.Archive, remote: true})
	case !started:
		s.buryLocked(r.ID) // a record read late must not bring it back
		if known {
			delete(s.elsewhere, r.ID)
			s.emitLocked(archiveStopped{a: r.Archive, remote: true})
		}
	}
}

// loadArchivesLocked tells of the archives other nodes record, as the
// session's set of them has them. The caller holds s.mu.
func (s *Session) loadArchivesLocked(recs map[string][]byte, alive map[string]cluster.Node) {
	for _, b := range recs {
		var r archiveRecord
		if json.Unmarshal(b, &r) != nil || r.Node == s.nodeID() {
			continue
		}
		if _, ok := alive[r.Node]; ok || alive == nil {
			s.applyArchiveLocked(r, true)
		}
	}
}

// endArchivesOfLocked ends the archives of nodes that left the cluster:
// they failed. The caller holds s.mu.
func (s *Session) endArchivesOfLocked(alive map[string]cluster.Node) {
	for _, r := range s.elsewhere {
		if _, ok := alive[r.Node]; !ok {
			r.Status, r.Reason = ArchiveFailed, "node "+r.Node+" left the cluster while it recorded"
			s.applyArchiveLocked(r, false)
		}
	}
}

// recordedLocked returns the archives that record the session, on any
// node. The caller holds s.mu.
func (s *Session) recordedLocked() []Archive {
	var list []Archive
	for _, rec := range s.runningArchivesLocked() {
		list = append(list, rec.snapshot())
	}
	for _, r := range s.elsewhere {
		list = append(list, r.Archive)
	}
	return list
}
