package crossbar

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar/archive"
)

// recording is an archive: each stream it records goes to a file of its
// own, read in process (Session.Subscribe) and written by an
// archive.Writer, until the stream ends, the host removes it or the
// archive stops. An individual archive's files are the archive; a
// composed archive's go to a working directory, and are composed into one
// when it stops (compose). Lock order: the session's mu, the server's
// archives.mu, then a recording's mu.
type recording struct {
	id      string
	s       *Session
	opts    ArchiveOptions
	created time.Time

	mu      sync.Mutex
	status  ArchiveStatus // started while it records (paused is derived), then stopped, available or failed
	reason  string
	ended   time.Time
	streams map[string]*streamFile // recording now, or about to
	manual  []ArchiveStream        // manual mode: the streams added
	files   []archive.File         // ended
	size    int64                  // of the ended files and the manifest
	told    ArchiveStatus          // the status last told (tellLocked)
	idle    Timer                  // set while the session has no connections
	limit   Timer                  // stops it at MaxArchiveDuration
	wg      sync.WaitGroup         // the streams' goroutines

	// A composed archive's: the directory of its streams' files, and
	// what they and its layouts are to be composed of.
	work    string
	inputs  []archive.Input
	layouts []archive.LayoutChange
}

// streamFile is one stream's file of a recording; sub and w are nil while
// it is opened.
type streamFile struct {
	sub    *Subscriber
	w      *archive.Writer
	file   archive.File
	input  archive.Input // a composed archive's: what the file is to it
	opened time.Time     // by the system's clock, as the Writer's
}

// runningLocked reports whether the archive records. The caller holds
// rec.mu.
func (rec *recording) runningLocked() bool { return rec.status == ArchiveStarted }

func (rec *recording) running() bool {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.runningLocked()
}

// now is the session clock's time.
func (rec *recording) now() time.Time { return rec.s.srv.cfg.Clock.Now() }

// snapshot returns the archive as it is.
func (rec *recording) snapshot() Archive {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.snapshotLocked()
}

func (rec *recording) snapshotLocked() Archive {
	a := Archive{
		ID: rec.id, SessionID: rec.s.ID(), Name: rec.opts.Name, CreatedAt: rec.created,
		Status: rec.status, Reason: rec.reason, HasAudio: !rec.opts.NoAudio, HasVideo: !rec.opts.NoVideo,
		OutputMode: rec.opts.OutputMode, Resolution: rec.opts.Resolution, StreamMode: rec.opts.StreamMode, MultiArchiveTag: rec.opts.MultiArchiveTag,
		Streams: slices.Clone(rec.manual), Size: rec.size,
	}
	end := rec.ended
	if rec.runningLocked() {
		end = rec.now()
		if len(rec.streams) == 0 {
			a.Status = ArchivePaused
		}
	}
	a.Duration = end.Sub(rec.created)
	for _, f := range rec.streams {
		if f.w != nil {
			a.Size += f.w.Size()
		}
	}
	return a
}

// startArchive starts an archive of the session (see Server.StartArchive).
func (s *Session) startArchive(opts ArchiveOptions) (Archive, error) {
	if s.info.MediaMode == Relayed {
		return Archive{}, fmt.Errorf("%w: session %s is relayed: its media does not pass through the server", ErrArchiveConflict, s.info.ID)
	}
	srv := s.srv
	s.mu.Lock()
	if s.closed {
		s.unlock()
		return Archive{}, ErrSessionClosed
	}
	for _, o := range s.runningArchivesLocked() {
		if tagsConflict(o.opts.MultiArchiveTag, opts.MultiArchiveTag) {
			s.unlock()
			return Archive{}, fmt.Errorf("%w: session %s is being recorded (archive %s)", ErrArchiveConflict, s.info.ID, o.id)
		}
	}
	rec := &recording{id: newID(), s: s, opts: opts, created: srv.cfg.Clock.Now(), status: ArchiveStarted, streams: map[string]*streamFile{}}
	if opts.OutputMode == OutputComposed {
		work, err := os.MkdirTemp("", "crossbar-compose-")
		if err != nil {
			s.unlock()
			return Archive{}, fmt.Errorf("%w: %w", errStorage, err)
		}
		rec.work = work
		rec.layouts = []archive.LayoutChange{{Type: opts.Layout.Type, ScreenshareType: opts.Layout.ScreenshareType}}
	}
	srv.archives.mu.Lock()
	srv.archives.list = append(srv.archives.list, rec)
	srv.archives.mu.Unlock()
	s.recordings = append(s.recordings, rec)
	var streams []string
	if opts.StreamMode == StreamModeAuto {
		for _, st := range s.streamsLocked() {
			streams = append(streams, st.id)
		}
	}
	rec.mu.Lock()
	rec.limit = srv.cfg.Clock.AfterFunc(MaxArchiveDuration, func() { _, _ = rec.stop("maxDuration") })
	if len(s.conns) == 0 {
		rec.sleep()
	}
	a := rec.snapshotLocked()
	a.Status = ArchiveStarted // not paused before its streams are added
	rec.tellLocked(a)
	rec.mu.Unlock()
	s.emitLocked(archiveStarted{a: a})
	s.unlock()
	s.log.Info("archive started", "archive", rec.id, "streams", len(streams))
	for _, id := range streams {
		rec.addLogged(id, !opts.NoAudio, !opts.NoVideo)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	a = rec.snapshotLocked()
	rec.tellLocked(a) // paused, if it has no stream to record
	return a, nil
}

// tagsConflict reports whether two archives or broadcasts of a session,
// tagged a and b (OpenTok's multiArchiveTag, multiBroadcastTag), may not
// run together: unless both are tagged, each its own.
func tagsConflict(a, b string) bool { return a == "" || b == "" || a == b }

// tellLocked tells the host's webhook (OpenTok's archive status
// callbacks) and the cluster of the archive's status, a's, if it is not
// the one told last. The caller holds rec.mu.
func (rec *recording) tellLocked(a Archive) {
	if a.Status == rec.told {
		return
	}
	rec.told = a.Status
	rec.s.archiveChanged(a)
}

// addManual adds a stream to a manual-mode archive.
func (rec *recording) addManual(st ArchiveStream) error {
	if !st.HasAudio && !st.HasVideo {
		return fmt.Errorf("%w: add stream %q with neither audio nor video", ErrInvalidOption, st.StreamID)
	}
	if err := rec.manualOnly(); err != nil {
		return err
	}
	if _, err := rec.s.Stream(st.StreamID); err != nil {
		return err
	}
	st.HasAudio = st.HasAudio && !rec.opts.NoAudio
	st.HasVideo = st.HasVideo && !rec.opts.NoVideo
	if err := rec.add(st.StreamID, st.HasAudio, st.HasVideo); err != nil {
		return err
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.manual = slices.DeleteFunc(rec.manual, func(o ArchiveStream) bool { return o.StreamID == st.StreamID })
	rec.manual = append(rec.manual, st)
	return nil
}

// removeManual removes a stream from a manual-mode archive.
func (rec *recording) removeManual(streamID string) error {
	if err := rec.manualOnly(); err != nil {
		return err
	}
	rec.mu.Lock()
	n := len(rec.manual)
	rec.manual = slices.DeleteFunc(rec.manual, func(o ArchiveStream) bool { return o.StreamID == streamID })
	removed := len(rec.manual) < n
	f := rec.streams[streamID]
	rec.mu.Unlock()
	if !removed {
		return fmt.Errorf("%w: %q is not in archive %s", ErrStreamNotFound, streamID, rec.id)
	}
	if f != nil && f.sub != nil {
		f.sub.close() // its goroutines end the file
	}
	return nil
}

// manualOnly refuses to change the streams of an archive in auto mode, or
// one no longer recording.
func (rec *recording) manualOnly() error {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	switch {
	case rec.opts.StreamMode != StreamModeManual:
		return fmt.Errorf("%w: archive %s records every stream (auto mode)", ErrArchiveConflict, rec.id)
	case !rec.runningLocked():
		return fmt.Errorf("%w: archive %s is %s", ErrArchiveConflict, rec.id, rec.status)
	}
	return nil
}

// setLayout changes a composed archive's layout from now on.
func (rec *recording) setLayout(l ArchiveLayout) error {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	switch {
	case rec.work == "":
		return fmt.Errorf("%w: archive %s is individual: it has no layout", ErrInvalidOption, rec.id)
	case !rec.runningLocked():
		return fmt.Errorf("%w: archive %s is %s", ErrArchiveConflict, rec.id, rec.status)
	}
	rec.layouts = append(rec.layouts, archive.LayoutChange{At: rec.now().Sub(rec.created), Type: l.Type, ScreenshareType: l.ScreenshareType})
	return nil
}

// retile notes a stream's new tile in a composed archive, from now on
// (its layout classes changed).
func (rec *recording) retile(streamID string, tile archive.Tile) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	f := rec.streams[streamID]
	if rec.work == "" || f == nil || !rec.runningLocked() {
		return
	}
	last := f.input.Tile
	if n := len(f.input.TileChanges); n > 0 {
		last = f.input.TileChanges[n-1].Tile
	}
	if tile != last {
		f.input.TileChanges = append(f.input.TileChanges, archive.TileChange{At: rec.now().Sub(rec.created), Tile: tile})
	}
}

// addLogged adds a stream, as add does, and logs why it could not.
func (rec *recording) addLogged(streamID string, audio, video bool) {
	if err := rec.add(streamID, audio, video); err != nil {
		rec.s.log.Warn("archive: stream not recorded", "archive", rec.id, "stream", streamID, "err", err)
	}
}

// add starts recording a stream, unless the archive records it already.
// A stream without the media asked for (a signal-only one) is left out.
func (rec *recording) add(streamID string, audio, video bool) error {
	rec.mu.Lock()
	if !rec.runningLocked() || rec.streams[streamID] != nil {
		rec.mu.Unlock()
		return nil
	}
	f := &streamFile{}
	rec.streams[streamID] = f // keeps the place while it opens
	rec.mu.Unlock()
	opened, err := rec.open(streamID, audio, video)
	rec.mu.Lock()
	if err == nil && opened.w != nil && rec.runningLocked() {
		opened.input.TileChanges = f.input.TileChanges // while it opened
		*f = opened
		f.opened = time.Now()
		rec.wg.Add(1)
		go rec.record(streamID, f)
		rec.tellLocked(rec.snapshotLocked()) // started again, if it was paused
		rec.mu.Unlock()
		return nil
	}
	delete(rec.streams, streamID)
	rec.tellLocked(rec.snapshotLocked())
	rec.mu.Unlock()
	if opened.w != nil { // the archive stopped meanwhile
		opened.sub.close()
		_ = opened.w.Close() // the archive is over: a late error changes nothing
	}
	if errors.Is(err, errStorage) {
		rec.fail(err)
	}
	return err
}

// errStorage marks a failure of the archive's Storage: the archive fails.
var errStorage = errors.New("crossbar: archive storage")

// open subscribes to a stream and opens its file; w is nil for a stream
// without the media asked for.
func (rec *recording) open(streamID string, audio, video bool) (streamFile, error) {
	s := rec.s
	m, err := s.subscribeMedia(streamID, audio, video)
	if err != nil || m.sub == nil {
		return streamFile{}, err
	}
	file := archive.File{StreamID: streamID, ConnectionData: m.data, StartTimeOffset: rec.now().Sub(rec.created).Milliseconds()}
	file.Filename = rec.fileName(streamID, m.video)
	store := s.srv.cfg.Archives
	if rec.work != "" {
		store = archive.Dir(rec.work)
	}
	dst, err := store.Create(context.Background(), rec.id, file.Filename)
	if err != nil {
		m.sub.close()
		return streamFile{}, fmt.Errorf("%w: %w", errStorage, err)
	}
	w, err := archive.NewWriter(dst, m.audio, m.video)
	if err != nil {
		_ = dst.Close() // the error that matters is NewWriter's
		m.sub.close()
		return streamFile{}, fmt.Errorf("%w: stream %s: %w", errStorage, streamID, err)
	}
	if m.video != nil {
		w.OnKeyframeNeeded(m.keyframe) // after a lost frame
	}
	in := archive.Input{HasAudio: m.audio != nil, HasVideo: m.video != nil, Tile: m.tile}
	if rec.work != "" {
		in.Path = archive.Dir(rec.work).Path(rec.id, file.Filename)
	}
	return streamFile{sub: m.sub, w: w, file: file, input: in}, nil
}

// streamMedia is an in-process subscription to a stream, and what a file
// or a composition needs to know of it.
type streamMedia struct {
	sub          *Subscriber
	audio, video *archive.Track // nil: absent, or not asked for
	tile         archive.Tile
	data         string // its connection's data
	keyframe     func() // asks its publisher for a keyframe
}

// subscribeMedia subscribes to a stream's audio or video or both; sub
// is nil for a stream without the media asked for.
func (s *Session) subscribeMedia(streamID string, audio, video bool) (streamMedia, error) {
	sub, err := s.Subscribe(streamID, SubscribeOptions{Audio: audio, Video: video})
	if err != nil {
		return streamMedia{}, err
	}
	a, v := sub.stream.pub.tracks()
	s.mu.Lock()
	size := sub.stream.dimensions
	m := streamMedia{sub: sub, data: sub.stream.connection.token.Data,
		tile: sub.stream.tileLocked()}
	s.unlock()
	for kind := range sub.readers {
		if kind == webrtc.RTPCodecTypeVideo {
			c := v.Codec()
			m.video = &archive.Track{MimeType: c.MimeType, ClockRate: c.ClockRate, Width: size.Width, Height: size.Height}
			m.keyframe = v.RequestKeyframe
		} else {
			c := a.Codec()
			m.audio = &archive.Track{MimeType: c.MimeType, ClockRate: c.ClockRate}
		}
	}
	if m.audio == nil && m.video == nil {
		sub.close()
		return streamMedia{}, nil
	}
	return m, nil
}

// copyRTP writes the packets of each track of a subscription with write
// until the subscription ends (nil) or write fails (its error: the
// subscription then ends).
func (sub *Subscriber) copyRTP(write func(webrtc.RTPCodecType, *rtp.Packet) error) error {
	var wg sync.WaitGroup
	errs := make([]error, 0, len(sub.readers))
	var mu sync.Mutex
	for kind := range sub.readers {
		wg.Go(func() {
			for {
				p, err := sub.ReadRTP(context.Background(), kind)
				if err != nil {
					return // io.EOF: the subscription ended
				}
				if err := write(kind, p); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					sub.close() // the other track's reader ends too
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// fileName names a stream's file: its id, and a number for each time it
// was recorded again, as a stream removed and added back is.
func (rec *recording) fileName(streamID string, video *archive.Track) string {
	ext := archive.FileExt("")
	if video != nil {
		ext = archive.FileExt(video.MimeType)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	name := streamID
	for n := 2; slices.ContainsFunc(rec.files, func(f archive.File) bool { return f.Filename == name+ext }); n++ {
		name = streamID + "-" + strconv.Itoa(n)
	}
	return name + ext
}

// record copies a stream's packets to its file until the subscription
// ends (the stream ended, or it was removed, or the archive stopped),
// then closes the file.
func (rec *recording) record(streamID string, f *streamFile) {
	defer rec.wg.Done()
	if err := f.sub.copyRTP(f.w.WriteRTP); err != nil {
		rec.fail(fmt.Errorf("stream %s: %w", streamID, err))
	}
	// The file ends with its last sample, before it is closed: a
	// Storage's Close may take a while (an upload).
	stop := rec.now().Sub(rec.created).Milliseconds()
	err := f.w.Close()
	rec.mu.Lock()
	if start := f.w.Started(); !start.IsZero() {
		// The file starts with its first sample (video: a keyframe).
		f.file.StartTimeOffset += start.Sub(f.opened).Milliseconds()
	}
	f.file.StopTimeOffset = stop
	f.file.Size = f.w.Size()
	rec.size += f.file.Size
	rec.files = append(rec.files, f.file)
	if rec.work != "" && !f.w.Started().IsZero() { // a file without media has no place in the composition
		f.input.Start = time.Duration(f.file.StartTimeOffset) * time.Millisecond
		f.input.Stop = time.Duration(f.file.StopTimeOffset) * time.Millisecond
		rec.inputs = append(rec.inputs, f.input)
	}
	delete(rec.streams, streamID)
	rec.tellLocked(rec.snapshotLocked()) // paused, if it was the last
	rec.mu.Unlock()
	if err != nil {
		rec.fail(fmt.Errorf("stream %s: %w", streamID, err))
	}
}

// fail makes the archive fail for err: its streams stop being read; the
// live session goes on.
func (rec *recording) fail(err error) {
	rec.mu.Lock()
	if rec.status == ArchiveFailed {
		rec.mu.Unlock()
		return
	}
	running := rec.runningLocked()
	rec.status, rec.reason = ArchiveFailed, err.Error()
	if !running { // stopped: stop waits for its files
		rec.mu.Unlock()
		return
	}
	rec.ended = rec.now()
	rec.endLocked()
	a := rec.snapshotLocked()
	rec.tellLocked(a)
	rec.mu.Unlock()
	rec.s.log.Error("archive failed", "archive", rec.id, "err", err)
	rec.s.archiveEnded(rec, a)
	if rec.work != "" {
		rec.s.srv.archives.composing.Go(func() {
			rec.wg.Wait()
			rec.removeWork()
		})
	}
}

// removeWork removes a composed archive's working directory.
func (rec *recording) removeWork() {
	if err := os.RemoveAll(rec.work); err != nil {
		rec.s.log.Warn("archive: working directory not removed", "archive", rec.id, "err", err)
	}
}

// endLocked stops the archive's timers and ends the subscriptions of the
// recorded streams; their goroutines then close their files. The caller
// holds rec.mu.
func (rec *recording) endLocked() {
	rec.limit.Stop()
	if rec.idle != nil {
		rec.idle.Stop()
		rec.idle = nil
	}
	for _, f := range rec.streams {
		if f.sub != nil {
			f.sub.close()
		}
	}
}

// stop stops the archive for reason (empty: the host asked), waits until
// its files are complete, and writes its manifest.
func (rec *recording) stop(reason string) (Archive, error) {
	rec.mu.Lock()
	if !rec.runningLocked() {
		defer rec.mu.Unlock()
		return Archive{}, fmt.Errorf("%w: archive %s is %s", ErrArchiveConflict, rec.id, rec.status)
	}
	rec.status, rec.reason, rec.ended = ArchiveStopped, reason, rec.now()
	rec.endLocked()
	a := rec.snapshotLocked()
	rec.tellLocked(a)
	rec.mu.Unlock()
	rec.s.archiveEnded(rec, a)
	rec.wg.Wait()
	if rec.work != "" {
		rec.s.srv.archives.composing.Go(rec.compose)
		return a, nil
	}
	err := rec.writeManifest()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	switch {
	case rec.status != ArchiveStopped: // a file failed as it closed
	case err != nil:
		rec.status, rec.reason = ArchiveFailed, err.Error()
	default:
		rec.status = ArchiveAvailable
	}
	rec.tellLocked(rec.snapshotLocked())
	rec.s.log.Info("archive stopped", "archive", rec.id, "status", rec.status, "reason", reason)
	return a, nil
}

// compose composes a composed archive that stopped from its streams'
// files (archive.Compose) into the server's Storage: it is then available,
// or failed with the reason; its working directory is removed.
func (rec *recording) compose() {
	defer rec.removeWork()
	rec.mu.Lock()
	if rec.status != ArchiveStopped { // a file failed as it closed
		rec.tellLocked(rec.snapshotLocked())
		rec.mu.Unlock()
		return
	}
	c := archive.Composition{
		Duration: rec.ended.Sub(rec.created), Inputs: slices.Clone(rec.inputs), Layouts: slices.Clone(rec.layouts),
		NoAudio: rec.opts.NoAudio, NoVideo: rec.opts.NoVideo,
	}
	rec.mu.Unlock()
	// Streams are arranged in the order they came.
	slices.SortStableFunc(c.Inputs, func(a, b archive.Input) int { return cmp.Compare(a.Start, b.Start) })
	// check made it one of ArchiveResolutions.
	w, h, _ := strings.Cut(rec.opts.Resolution, "x")
	c.Width, _ = strconv.Atoi(w)
	c.Height, _ = strconv.Atoi(h)
	out := filepath.Join(rec.work, ComposedArchiveFile)
	err := archive.Compose(context.Background(), rec.s.srv.cfg.FFmpeg, c, out)
	var size int64
	if err == nil {
		size, err = rec.store(out)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if err != nil {
		rec.status, rec.reason = ArchiveFailed, err.Error()
		rec.s.log.Error("archive failed", "archive", rec.id, "err", err)
	} else {
		rec.status, rec.size = ArchiveAvailable, size
		rec.s.log.Info("archive composed", "archive", rec.id, "size", size, "took", rec.now().Sub(rec.ended))
	}
	rec.tellLocked(rec.snapshotLocked())
}

// store copies a composed archive's file to the server's Storage, and
// returns its size.
func (rec *recording) store(path string) (int64, error) {
	src, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("crossbar: composed archive: %w", err)
	}
	defer func() { _ = src.Close() }() // read only: its close loses nothing
	dst, err := rec.s.srv.cfg.Archives.Create(context.Background(), rec.id, ComposedArchiveFile)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errStorage, err)
	}
	n, err := io.Copy(dst, src)
	if err = errors.Join(err, dst.Close()); err != nil {
		return 0, fmt.Errorf("%w: %w", errStorage, err)
	}
	return n, nil
}

// writeManifest stores the archive's manifest (archive.ManifestName).
func (rec *recording) writeManifest() error {
	rec.mu.Lock()
	m := archive.Manifest{ID: rec.id, SessionID: rec.s.ID(), Name: rec.opts.Name, CreatedAt: rec.created.UnixMilli(), Files: slices.Clone(rec.files)}
	rec.mu.Unlock()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("crossbar: archive manifest: %w", err)
	}
	dst, err := rec.s.srv.cfg.Archives.Create(context.Background(), rec.id, archive.ManifestName)
	if err == nil {
		_, err = dst.Write(b)
		err = errors.Join(err, dst.Close())
	}
	if err != nil {
		return fmt.Errorf("crossbar: archive manifest: %w", err)
	}
	rec.mu.Lock()
	rec.size += int64(len(b))
	rec.mu.Unlock()
	return nil
}

// sleep starts the countdown to the archive's end, once the session has
// no connections: ArchiveIdleTimeout. The caller holds rec.mu.
func (rec *recording) sleep() {
	if rec.idle == nil {
		rec.idle = rec.s.srv.cfg.Clock.AfterFunc(ArchiveIdleTimeout, func() { _, _ = rec.stop("sessionIdle") })
	}
}

// wake stops the countdown: a client came.
func (rec *recording) wake() {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.idle != nil {
		rec.idle.Stop()
		rec.idle = nil
	}
}

// archiveEnded drops rec, which stopped or failed as a says, from the
// session's recordings, and tells the session's clients and host.
func (s *Session) archiveEnded(rec *recording, a Archive) {
	s.mu.Lock()
	defer s.unlock()
	s.recordings = slices.DeleteFunc(s.recordings, func(r *recording) bool { return r == rec })
	s.emitLocked(archiveStopped{a: a})
}

// recordLocked keeps the session's archives up with ev: an archive in
// auto mode records each new stream; a session in archive mode always
// starts one with its first stream; a composed archive moves a stream
// whose layout classes changed; archives stop ArchiveIdleTimeout after
// the last connection left. The caller holds s.mu.
func (s *Session) recordLocked(ev event) {
	switch ev := ev.(type) {
	case streamCreated:
		recs := s.runningArchivesLocked()
		if len(recs) == 0 && s.info.ArchiveMode == ArchiveModeAlways && !ev.st.connection.remote() {
			s.later(func() {
				if s.clustered() {
					go s.recordAlways() // off the caller: it asks the bus
				} else {
					s.recordAlways()
				}
			})
		}
		remote := ev.st.connection.remote()
		for _, rec := range recs {
			if rec.opts.StreamMode == StreamModeAuto {
				id := ev.st.id
				add := func() { rec.addLogged(id, !rec.opts.NoAudio, !rec.opts.NoVideo) }
				if remote {
					// Its media comes over a node link, whose messages come
					// on the goroutine that applies this event: not here.
					s.later(func() { go add() })
				} else {
					s.later(add)
				}
			}
		}
	case layoutChanged:
		for _, rec := range s.runningArchivesLocked() {
			rec.retile(ev.st.id, ev.st.tileLocked())
		}
	case connectionCreated:
		for _, rec := range s.runningArchivesLocked() {
			rec.wake()
		}
	case connectionDestroyed:
		if len(s.conns) > 0 || s.closed {
			return
		}
		for _, rec := range s.runningArchivesLocked() {
			rec.mu.Lock()
			rec.sleep()
			rec.mu.Unlock()
		}
	}
}

// stopArchivesLocked stops the session's archives as it closes; they are
// complete once the lock is released. The caller holds s.mu.
func (s *Session) stopArchivesLocked() {
	for _, rec := range s.runningArchivesLocked() {
		s.later(func() { _, _ = rec.stop("sessionClosed") })
	}
}
