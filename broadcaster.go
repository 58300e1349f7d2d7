package crossbar

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crossbar-rtc/crossbar/archive"
	"github.com/crossbar-rtc/crossbar/live"
)

// broadcasting is a broadcast: each stream of its session is read in
// process (Session.subscribeMedia), as an archive reads it, and written
// to its input of a live.Composer, which composes them and streams the
// result to the broadcast's outputs. Lock order: the session's mu, the
// server's broadcasts.mu, then a broadcasting's mu.
type broadcasting struct {
	id      string
	s       *Session
	opts    BroadcastOptions
	created time.Time
	hls     string         // the directory of its HLS files; empty without
	comp    *live.Composer // nil if it could not start

	mu      sync.Mutex
	status  BroadcastStatus
	reason  string
	updated time.Time
	layout  ArchiveLayout
	streams map[string]*castStream // composed now, or about to
	limit   Timer                  // stops it at MaxDuration
	wg      sync.WaitGroup         // the streams' goroutines
	outputs []live.Output          // the RTMP outputs' statuses once it ended
}

// castStream is one stream of a broadcast, with the media asked for;
// sub and in are nil while it opens. done is closed once it left the
// composition.
type castStream struct {
	audio, video bool
	sub          *Subscriber
	in           *live.Input
	removed      bool // by the host while it opened
	done         chan struct{}
}

func (b *broadcasting) running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.status == BroadcastStarted
}

// snapshot returns the broadcast as it is.
func (b *broadcasting) snapshot() Broadcast {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.snapshotLocked()
}

func (b *broadcasting) snapshotLocked() Broadcast {
	c := Broadcast{
		ID: b.id, SessionID: b.s.ID(), CreatedAt: b.created, UpdatedAt: b.updated, MaxDuration: b.opts.MaxDuration,
		Resolution: b.opts.Resolution, MaxBitrate: b.opts.MaxBitrate, Status: b.status, Reason: b.reason,
		MultiBroadcastTag: b.opts.MultiBroadcastTag, StreamMode: b.opts.StreamMode, Layout: b.layout,
		RTMP: slices.Clone(b.opts.Outputs.RTMP),
	}
	if b.opts.StreamMode == StreamModeManual && b.status == BroadcastStarted {
		for id, cs := range b.streams {
			c.Streams = append(c.Streams, ArchiveStream{StreamID: id, HasAudio: cs.audio, HasVideo: cs.video})
		}
		slices.SortFunc(c.Streams, func(x, y ArchiveStream) int { return strings.Compare(x.StreamID, y.StreamID) })
	}
	if h := b.opts.Outputs.HLS; h != nil {
		hls := *h
		c.HLS, c.HLSURL = &hls, hlsPath(b.id, live.HLSPlaylist)
	}
	outputs := b.outputs
	if b.status == BroadcastStarted && b.comp != nil {
		outputs = b.comp.Outputs()
	}
	for i := range c.RTMP {
		c.RTMP[i].Status, c.RTMP[i].Reason = RTMPError, b.reason // its composition never started
		if i < len(outputs) {
			c.RTMP[i].Reason = ""
			c.RTMP[i].Status = RTMPStatus(outputs[i].Status)
			if err := outputs[i].Err; err != nil {
				c.RTMP[i].Reason = err.Error()
			}
		}
	}
	return c
}

// startBroadcast starts a broadcast of the session (see
// Server.StartBroadcast).
func (s *Session) startBroadcast(opts BroadcastOptions) (Broadcast, error) {
	if s.info.MediaMode == Relayed {
		return Broadcast{}, fmt.Errorf("%w: session %s is relayed: its media does not pass through the server", ErrBroadcastConflict, s.info.ID)
	}
	srv := s.srv
	s.mu.Lock()
	if s.closed {
		s.unlock()
		return Broadcast{}, ErrSessionClosed
	}
	for _, o := range s.casts {
		if tagsConflict(o.opts.MultiBroadcastTag, opts.MultiBroadcastTag) {
			s.unlock()
			return Broadcast{}, fmt.Errorf("%w: session %s is being broadcast (broadcast %s)", ErrBroadcastConflict, s.info.ID, o.id)
		}
	}
	now := srv.cfg.Clock.Now()
	b := &broadcasting{id: newID(), s: s, opts: opts, created: now, updated: now, status: BroadcastStarted, layout: opts.Layout, streams: map[string]*castStream{}}
	var err error
	if b.comp, err = b.start(); err != nil {
		b.status, b.reason = BroadcastFailed, err.Error()
	}
	srv.broadcasts.mu.Lock()
	srv.broadcasts.list = append(srv.broadcasts.list, b)
	srv.broadcasts.mu.Unlock()
	if err != nil {
		c := b.snapshot()
		s.broadcastChanged(c)
		s.emitLocked(broadcastStopped{c})
		s.unlock()
		s.log.Error("broadcast failed", "broadcast", b.id, "err", err)
		return c, nil
	}
	s.casts = append(s.casts, b)
	b.mu.Lock()
	b.limit = srv.cfg.Clock.AfterFunc(opts.MaxDuration, func() { _, _ = b.stop("maxDuration") })
	c := b.snapshotLocked()
	b.mu.Unlock()
	s.broadcastChanged(c) // before it can end: the session is locked
	if opts.StreamMode == StreamModeAuto {
		for _, st := range s.streamsLocked() {
			s.later(func() { b.addLogged(st.id) })
		}
	}
	s.unlock()
	go b.watch()
	s.log.Info("broadcast started", "broadcast", b.id, "rtmp", len(opts.Outputs.RTMP), "hls", opts.Outputs.HLS != nil)
	return c, nil
}

// start starts the broadcast's composition, and makes the directory of
// its HLS files.
func (b *broadcasting) start() (*live.Composer, error) {
	o := b.opts
	w, h, _ := strings.Cut(o.Resolution, "x") // check made it one of ArchiveResolutions
	cfg := live.Config{FFmpeg: b.s.srv.cfg.FFmpeg, Layout: o.Layout.Type, ScreenshareType: o.Layout.ScreenshareType, VideoBitrate: o.MaxBitrate}
	cfg.Width, _ = strconv.Atoi(w)
	cfg.Height, _ = strconv.Atoi(h)
	for _, r := range o.Outputs.RTMP {
		cfg.RTMP = append(cfg.RTMP, strings.TrimSuffix(r.ServerURL, "/")+"/"+r.StreamName)
	}
	if hls := o.Outputs.HLS; hls != nil {
		dir, err := os.MkdirTemp("", "crossbar-hls-")
		if err != nil {
			return nil, fmt.Errorf("crossbar: broadcast: %w", err)
		}
		b.hls = dir
		cfg.HLS = &live.HLS{Dir: dir, DVR: hls.DVR, LowLatency: hls.LowLatency}
	}
	comp, err := live.Start(cfg)
	if err != nil {
		b.removeHLS()
		return nil, err
	}
	return comp, nil
}

// watch fails the broadcast when its composition fails, until it ended.
func (b *broadcasting) watch() {
	select {
	case <-b.comp.Failed():
		b.fail(b.comp.Err())
	case <-b.comp.Done():
	}
}

// add starts composing a stream with the media asked for, unless the
// broadcast has it so already; with other media, it takes the place of
// the stream's media composed before. A stream without the media asked
// for (a signal-only one) is left out.
func (b *broadcasting) add(streamID string, audio, video bool) error {
	b.mu.Lock()
	old := b.streams[streamID]
	switch {
	case b.status != BroadcastStarted:
		b.mu.Unlock()
		return fmt.Errorf("%w: broadcast %s is %s", ErrBroadcastConflict, b.id, b.status)
	case old != nil && (old.sub == nil || old.audio == audio && old.video == video):
		b.mu.Unlock()
		return nil // it is there, or about to be
	}
	cs := &castStream{audio: audio, video: video, done: make(chan struct{})}
	b.streams[streamID] = cs // keeps the place while it opens
	b.mu.Unlock()
	if old != nil {
		old.sub.close()
		<-old.done
	}
	m, err := b.s.subscribeMedia(streamID, audio, video)
	var in *live.Input
	if err == nil && m.sub != nil {
		if in, err = b.comp.Add(streamID, m.audio, m.video, m.tile); err == nil && m.video != nil {
			in.OnKeyframeNeeded(m.keyframe)
		}
	}
	b.mu.Lock()
	if in != nil && b.status == BroadcastStarted && !cs.removed {
		cs.sub, cs.in = m.sub, in
		b.wg.Add(1)
		go b.compose(streamID, cs)
		b.mu.Unlock()
		return nil
	}
	b.forgetLocked(streamID, cs)
	b.mu.Unlock()
	if m.sub != nil {
		m.sub.close()
	}
	if in != nil { // the broadcast ended meanwhile
		b.comp.Remove(in)
	}
	return err
}

// addLogged adds a stream of an auto-mode broadcast with its media, as
// add does, and logs why it could not.
func (b *broadcasting) addLogged(streamID string) {
	if err := b.add(streamID, true, true); err != nil {
		b.s.log.Warn("broadcast: stream not composed", "broadcast", b.id, "stream", streamID, "err", err)
	}
}

// forgetLocked drops cs, the stream's, from the broadcast's streams,
// unless another took its place. The caller holds b.mu.
func (b *broadcasting) forgetLocked(streamID string, cs *castStream) {
	if b.streams[streamID] == cs {
		delete(b.streams, streamID)
	}
	close(cs.done)
}

// compose copies a stream's packets to its input of the composition
// until the subscription ends (the stream ended, or the broadcast did,
// or the host removed it).
func (b *broadcasting) compose(streamID string, cs *castStream) {
	defer b.wg.Done()
	err := cs.sub.copyRTP(cs.in.WriteRTP)
	b.comp.Remove(cs.in)
	if err != nil {
		// Its decoder failed: the stream is left out, the others go on.
		b.s.log.Warn("broadcast: stream dropped", "broadcast", b.id, "stream", streamID, "err", errors.Join(err, cs.in.Err()))
	}
	b.mu.Lock()
	b.forgetLocked(streamID, cs)
	b.mu.Unlock()
}

// remove takes a stream out of a manual-mode broadcast, and waits until
// it left the composition.
func (b *broadcasting) remove(streamID string) error {
	b.mu.Lock()
	cs := b.streams[streamID]
	if cs == nil {
		b.mu.Unlock()
		return fmt.Errorf("%w: %q is not in broadcast %s", ErrStreamNotFound, streamID, b.id)
	}
	cs.removed = true // if it opens: add drops it once open
	sub := cs.sub
	b.mu.Unlock()
	if sub != nil {
		sub.close()
	}
	<-cs.done
	return nil
}

// addManual adds a stream to a manual-mode broadcast (see
// Server.AddBroadcastStream).
func (b *broadcasting) addManual(st ArchiveStream) error {
	if err := b.manualOnly(); err != nil {
		return err
	}
	if _, err := b.s.Stream(st.StreamID); err != nil {
		return err
	}
	return b.add(st.StreamID, st.HasAudio, st.HasVideo)
}

// manualOnly refuses to change the streams of a broadcast in auto mode,
// or one no longer running.
func (b *broadcasting) manualOnly() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.opts.StreamMode != StreamModeManual:
		return fmt.Errorf("%w: broadcast %s has every stream (auto mode)", ErrBroadcastConflict, b.id)
	case b.status != BroadcastStarted:
		return fmt.Errorf("%w: broadcast %s is %s", ErrBroadcastConflict, b.id, b.status)
	}
	return nil
}

// retile changes a stream's tile in the composition (its layout classes
// changed).
func (b *broadcasting) retile(streamID string, tile archive.Tile) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cs := b.streams[streamID]; cs != nil && cs.in != nil && b.status == BroadcastStarted {
		b.comp.SetTile(cs.in, tile)
	}
}

// setLayout changes the broadcast's layout.
func (b *broadcasting) setLayout(l ArchiveLayout) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.status != BroadcastStarted {
		return fmt.Errorf("%w: broadcast %s is %s", ErrBroadcastConflict, b.id, b.status)
	}
	b.layout = l
	b.comp.SetLayout(l.Type, l.ScreenshareType)
	return nil
}

// fail makes the broadcast fail for err; the live session goes on.
func (b *broadcasting) fail(err error) {
	if err == nil {
		return // it was stopped
	}
	b.s.log.Error("broadcast failed", "broadcast", b.id, "err", err)
	_, _ = b.end(BroadcastFailed, err.Error()) // an error: it ended meanwhile, as it was going to

}

// stop stops the broadcast for reason (empty: the host asked) and waits
// until its outputs ended their streams.
func (b *broadcasting) stop(reason string) (Broadcast, error) {
	c, err := b.end(BroadcastStopped, reason)
	if err == nil {
		b.s.log.Info("broadcast stopped", "broadcast", b.id, "reason", reason)
	}
	return c, err
}

// end ends a running broadcast with status and reason: its streams'
// subscriptions and its composition end, then its HLS files are removed.
func (b *broadcasting) end(status BroadcastStatus, reason string) (Broadcast, error) {
	b.mu.Lock()
	if b.status != BroadcastStarted {
		defer b.mu.Unlock()
		return Broadcast{}, fmt.Errorf("%w: broadcast %s is %s", ErrBroadcastConflict, b.id, b.status)
	}
	b.status, b.reason, b.updated = status, reason, b.s.srv.cfg.Clock.Now()
	b.outputs = b.comp.Outputs()
	b.limit.Stop()
	for _, cs := range b.streams {
		if cs.sub != nil {
			cs.sub.close()
		}
	}
	b.mu.Unlock()
	b.wg.Wait()
	_ = b.comp.Close() // its failure, if any, is the reason already
	b.removeHLS()
	b.mu.Lock()
	for i, o := range b.comp.Outputs() { // now offline, or in error
		if i < len(b.outputs) {
			b.outputs[i] = o
		}
	}
	c := b.snapshotLocked()
	b.mu.Unlock()
	b.s.broadcastEnded(b, c)
	return c, nil
}

// removeHLS removes the broadcast's HLS files.
func (b *broadcasting) removeHLS() {
	if b.hls == "" {
		return
	}
	if err := os.RemoveAll(b.hls); err != nil {
		b.s.log.Warn("broadcast: HLS directory not removed", "broadcast", b.id, "err", err)
	}
}

// broadcastEnded drops b, which stopped or failed as c says, from the
// session's broadcasts, and tells the host.
func (s *Session) broadcastEnded(b *broadcasting, c Broadcast) {
	s.mu.Lock()
	defer s.unlock()
	s.casts = slices.DeleteFunc(s.casts, func(o *broadcasting) bool { return o == b })
	s.broadcastChanged(c)
	s.emitLocked(broadcastStopped{c})
}

// broadcastChanged tells of a broadcast's new status (started, stopped
// or failed): the host's webhook (OpenTok's broadcast status callbacks),
// and the other nodes (its record), in order.
func (s *Session) broadcastChanged(c Broadcast) {
	s.srv.hooks.post(broadcastCallback{s.srv, c})
	if s.clustered() {
		s.onBus("broadcast", s.putRecord(broadcastsSet, c.ID, broadcastRecord{c, s.nodeID()}), nil)
	}
}

// castLocked keeps the session's broadcasts up with ev: each composes
// every new stream, and moves a stream whose layout classes changed. The
// caller holds s.mu.
func (s *Session) castLocked(ev event) {
	if changed, ok := ev.(layoutChanged); ok {
		for _, b := range s.casts {
			b.retile(changed.st.id, changed.st.tileLocked())
		}
		return
	}
	created, ok := ev.(streamCreated)
	if !ok {
		return
	}
	id := created.st.id
	for _, b := range s.casts {
		switch {
		case b.opts.StreamMode != StreamModeAuto:
		case created.st.connection.remote():
			// Its media comes over a node link, whose messages come on
			// the goroutine that applies this event: not here.
			s.later(func() { go b.addLogged(id) })
		default:
			s.later(func() { b.addLogged(id) })
		}
	}
}

// stopBroadcastsLocked stops the session's broadcasts as it closes. The
// caller holds s.mu.
func (s *Session) stopBroadcastsLocked() {
	for _, b := range s.casts {
		s.later(func() { _, _ = b.stop("sessionClosed") })
	}
}
