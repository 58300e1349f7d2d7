package crossbar

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/crossbar-rtc/crossbar/archive"
)

// ArchiveStatus is where an archive is in its life, as OpenTok names it.
type ArchiveStatus string

// Archive statuses. An archive is started, paused while nobody in its
// session publishes what it records, stopped, then available once its
// files are complete; or failed, with a reason, when they cannot be.
const (
	ArchiveStarted   ArchiveStatus = "started"
	ArchivePaused    ArchiveStatus = "paused"
	ArchiveStopped   ArchiveStatus = "stopped"
	ArchiveAvailable ArchiveStatus = "available"
	ArchiveFailed    ArchiveStatus = "failed"
)

// OutputMode says what an archive makes: one composed file, or a file per
// stream.
type OutputMode string

// Output modes.
const (
	OutputIndividual OutputMode = "individual"
	OutputComposed   OutputMode = "composed"
)

// StreamMode says which streams an archive records: all of its session's
// (auto), or those the host adds (manual).
type StreamMode string

// Stream modes.
const (
	StreamModeAuto   StreamMode = "auto"
	StreamModeManual StreamMode = "manual"
)

// ArchiveMode says whether a session records itself: always starts an
// archive when its first stream is published.
type ArchiveMode string

// Archive modes.
const (
	ArchiveModeManual ArchiveMode = "manual"
	ArchiveModeAlways ArchiveMode = "always"
)

// ArchiveIdleTimeout is how long an archive goes on after the last client
// left its session, as OpenTok's do: then it stops.
const ArchiveIdleTimeout = 60 * time.Second

// MaxArchiveDuration is how long an archive records at most, as OpenTok's
// do: then it stops, with reason "maxDuration".
const MaxArchiveDuration = 4 * time.Hour

// MaxArchiveName is the longest archive name, in characters.
const MaxArchiveName = 80

// ArchiveLayout is how a composed archive arranges its streams: a type of
// OpenTok's (bestFit, pip, verticalPresentation, horizontalPresentation,
// focus, or custom with a Stylesheet), and for bestFit the type used while
// a screen is shared. archive.Arrange says where each stream goes; a
// stream of layout class "focus" (Session.SetLayoutClassLists, whenever
// it is set or cleared) is the large one of pip and the presentation
// layouts. Custom layouts (CSS) are not composed: ErrNotSupported.
type ArchiveLayout struct {
	Type            string
	Stylesheet      string
	ScreenshareType string
}

// ArchiveOptions are the options of StartArchive. The zero value records
// every stream's audio and video, each to its own file.
type ArchiveOptions struct {
	Name             string // at most MaxArchiveName characters
	NoAudio, NoVideo bool   // leave audio or video out (OpenTok's hasAudio, hasVideo false)
	// OutputMode: empty means individual (OpenTok's default is composed:
	// a REST layer that speaks OpenTok's API sets it).
	OutputMode OutputMode
	// Resolution of a composed archive: one of ArchiveResolutions;
	// empty means 640x480.
	Resolution string
	Layout     ArchiveLayout // of a composed archive; empty means bestFit
	StreamMode StreamMode    // auto (default) or manual
	// MultiArchiveTag lets the session have more than one archive at a
	// time: one per tag.
	MultiArchiveTag string
}

// ArchiveStream is a stream a manual-mode archive records, and which of
// its media.
type ArchiveStream struct {
	StreamID           string
	HasAudio, HasVideo bool
}

// Archive is an archive as it was when asked for: its fields do not
// change.
type Archive struct {
	ID, SessionID, Name string
	CreatedAt           time.Time
	Duration            time.Duration // to now while it records
	Size                int64         // bytes
	Status              ArchiveStatus
	// Reason says why it failed, or why it stopped: sessionIdle
	// (ArchiveIdleTimeout), sessionClosed, maxDuration; empty when the
	// host stopped it.
	Reason             string
	HasAudio, HasVideo bool
	OutputMode         OutputMode
	Resolution         string // composed archives
	StreamMode         StreamMode
	MultiArchiveTag    string
	Streams            []ArchiveStream // manual mode: those added
}

// ArchiveResolutions are the resolutions of composed archives, as
// OpenTok's: SD, HD and full HD, landscape and portrait.
var ArchiveResolutions = []string{"640x480", "480x640", "1280x720", "720x1280", "1920x1080", "1080x1920"}

// ComposedArchiveFile is the name of a composed archive's file in the
// server's Storage (Config.Archives): an MP4 of H.264 and AAC.
const ComposedArchiveFile = "archive.mp4"

// archives are a server's archives, by id, oldest first.
type archives struct {
	mu   sync.Mutex
	list []*recording
	// composing counts the composed archives that stopped and are being
	// composed, or failed and are being cleaned up; Server.Close waits.
	composing sync.WaitGroup
}

// StartArchive starts recording a session. It returns ErrArchiveConflict
// for a relayed session, whose media does not pass through the server, and
// when the session already records, on any node of a cluster (unless both
// archives have different MultiArchiveTags), ErrNotSupported for a
// composed archive of a custom layout, and ErrInvalidOption for options
// out of range.
//
// An individual archive writes each stream's file and a manifest
// (archive.Manifest). A composed archive records its streams so too, in a
// directory of os.TempDir, and, once stopped, ffmpeg (Config.FFmpeg)
// composes them, as its layouts arranged them over time, into
// ComposedArchiveFile (see archive.Compose): it is then available, or
// failed with ffmpeg's reason; the live session is not disturbed either
// way.
func (srv *Server) StartArchive(ctx context.Context, sessionID string, opts ArchiveOptions) (Archive, error) {
	if err := opts.check(); err != nil {
		return Archive{}, err
	}
	s, err := srv.Session(ctx, sessionID)
	if err != nil {
		return Archive{}, err
	}
	if err := srv.recordedElsewhere(ctx, s, opts.MultiArchiveTag); err != nil {
		return Archive{}, err
	}
	return s.startArchive(opts)
}

// check refuses options out of range, and fills in defaults.
func (o *ArchiveOptions) check() error {
	if n := len([]rune(o.Name)); n > MaxArchiveName {
		return fmt.Errorf("%w: archive name is %d characters, at most %d", ErrInvalidOption, n, MaxArchiveName)
	}
	if o.NoAudio && o.NoVideo {
		return fmt.Errorf("%w: an archive of neither audio nor video", ErrInvalidOption)
	}
	switch o.StreamMode {
	case "":
		o.StreamMode = StreamModeAuto
	case StreamModeAuto, StreamModeManual:
	default:
		return fmt.Errorf("%w: stream mode %q", ErrInvalidOption, o.StreamMode)
	}
	switch o.OutputMode {
	case "":
		o.OutputMode = OutputIndividual
	case OutputIndividual, OutputComposed:
	default:
		return fmt.Errorf("%w: output mode %q", ErrInvalidOption, o.OutputMode)
	}
	if o.OutputMode == OutputIndividual {
		if o.Resolution != "" || o.Layout != (ArchiveLayout{}) {
			return fmt.Errorf("%w: resolution and layout are a composed archive's", ErrInvalidOption)
		}
		return nil
	}
	if o.Resolution == "" {
		o.Resolution = ArchiveResolutions[0]
	}
	if !slices.Contains(ArchiveResolutions, o.Resolution) {
		return fmt.Errorf("%w: resolution %q (one of %v)", ErrInvalidOption, o.Resolution, ArchiveResolutions)
	}
	if o.Layout.Type == "" {
		o.Layout.Type = archive.BestFit
	}
	return o.Layout.check()
}

// StopArchive stops an archive and returns it, stopped; its files are
// complete, and it available (or failed), once StopArchive returns. It
// returns ErrArchiveNotFound for an unknown id, and ErrArchiveConflict
// for an archive that no longer records. In a cluster, the node that
// records the archive stops it.
func (srv *Server) StopArchive(ctx context.Context, id string) (Archive, error) {
	return srv.archiveDo(ctx, id, archiveOp{Op: opStop})
}

// Archive returns an archive, by id: one this server records, or in a
// cluster one of any node's (its size as of its last change of status).
func (srv *Server) Archive(ctx context.Context, id string) (Archive, error) {
	rec, err := srv.recording(id)
	if err == nil {
		return rec.snapshot(), nil
	}
	if srv.bus == nil {
		return Archive{}, err
	}
	r, err := srv.archiveRecord(ctx, id)
	if err != nil {
		return Archive{}, err
	}
	return srv.archiveOf(r), nil
}

// ArchiveListOptions select the archives Archives lists: those of a
// session (empty: every session's), Count of them (zero: 50, at most
// 1000) from Offset on, newest first, as OpenTok lists them.
type ArchiveListOptions struct {
	SessionID     string
	Offset, Count int
}

// Archives lists archives, newest first: this server's, and in a cluster
// every node's. It returns how many there are in all (as selected by
// SessionID).
func (srv *Server) Archives(ctx context.Context, opts ArchiveListOptions) ([]Archive, int, error) {
	if opts.Count == 0 {
		opts.Count = 50
	}
	if opts.Offset < 0 || opts.Count < 0 || opts.Count > 1000 {
		return nil, 0, fmt.Errorf("%w: offset %d, count %d (at most 1000)", ErrInvalidOption, opts.Offset, opts.Count)
	}
	all, err := srv.clusterArchives(ctx)
	if err != nil {
		return nil, 0, err
	}
	srv.archives.mu.Lock()
	local := slices.Clone(srv.archives.list)
	srv.archives.mu.Unlock()
	var sel []Archive
	for _, rec := range slices.Backward(local) {
		delete(all, rec.id) // this node's own is newer than its record
		if opts.SessionID == "" || rec.s.ID() == opts.SessionID {
			sel = append(sel, rec.snapshot())
		}
	}
	for _, a := range all {
		if opts.SessionID == "" || a.SessionID == opts.SessionID {
			sel = append(sel, a)
		}
	}
	slices.SortStableFunc(sel, func(a, b Archive) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return sel[min(opts.Offset, len(sel)):min(opts.Offset+opts.Count, len(sel))], len(sel), nil
}

// DeleteArchive deletes an available or failed archive and its files.
// It returns ErrArchiveConflict for one that is still recording.
func (srv *Server) DeleteArchive(ctx context.Context, id string) error {
	_, err := srv.archiveDo(ctx, id, archiveOp{Op: opDelete})
	return err
}

// delete deletes an archive this server recorded, and its record in the
// cluster.
func (rec *recording) delete(ctx context.Context) error {
	srv := rec.s.srv
	if a := rec.snapshot(); a.Status != ArchiveAvailable && a.Status != ArchiveFailed {
		return fmt.Errorf("%w: archive %s is %s", ErrArchiveConflict, rec.id, a.Status)
	}
	if err := srv.cfg.Archives.Remove(ctx, rec.id); err != nil {
		return fmt.Errorf("crossbar: delete archive %s: %w", rec.id, err)
	}
	srv.archives.mu.Lock()
	srv.archives.list = slices.DeleteFunc(srv.archives.list, func(r *recording) bool { return r == rec })
	srv.archives.mu.Unlock()
	return rec.s.forgetArchive(ctx, rec.id)
}

// SetArchiveLayout changes the layout of a composed archive while it
// records: the composed file has the new one from now on. Individual
// archives have none: ErrInvalidOption; one no longer recording:
// ErrArchiveConflict.
func (srv *Server) SetArchiveLayout(ctx context.Context, id string, layout ArchiveLayout) error {
	if err := layout.check(); err != nil {
		return err
	}
	_, err := srv.archiveDo(ctx, id, archiveOp{Op: opLayout, Layout: &layout})
	return err
}

// layoutTypes are OpenTok's layout types.
var layoutTypes = []string{"bestFit", "pip", "verticalPresentation", "horizontalPresentation", "focus", "custom"}

// check refuses a layout that is not one of OpenTok's, or is custom.
func (l ArchiveLayout) check() error {
	switch {
	case l.Type == "custom":
		return fmt.Errorf("%w: custom layouts (stylesheets)", ErrNotSupported)
	case !slices.Contains(layoutTypes, l.Type):
		return fmt.Errorf("%w: layout type %q", ErrInvalidOption, l.Type)
	case (l.Type == "custom") != (l.Stylesheet != ""):
		return fmt.Errorf("%w: a stylesheet goes with layout type custom, and only with it", ErrInvalidOption)
	case l.ScreenshareType != "" && (l.Type != "bestFit" || !slices.Contains(layoutTypes[:5], l.ScreenshareType)):
		return fmt.Errorf("%w: screenshare type %q (with layout type bestFit only)", ErrInvalidOption, l.ScreenshareType)
	}
	return nil
}

// AddArchiveStream adds a stream to a manual-mode archive, with its audio
// or video or both. It returns ErrStreamNotFound for a stream that is not
// in the archive's session, and ErrArchiveConflict for an archive in auto
// mode or no longer recording.
func (srv *Server) AddArchiveStream(ctx context.Context, id string, stream ArchiveStream) error {
	_, err := srv.archiveDo(ctx, id, archiveOp{Op: opAddStream, Stream: &stream})
	return err
}

// RemoveArchiveStream removes a stream from a manual-mode archive: its
// file ends.
func (srv *Server) RemoveArchiveStream(ctx context.Context, id, streamID string) error {
	_, err := srv.archiveDo(ctx, id, archiveOp{Op: opRemoveStream, Stream: &ArchiveStream{StreamID: streamID}})
	return err
}

// recording returns the archive with the given id.
func (srv *Server) recording(id string) (*recording, error) {
	srv.archives.mu.Lock()
	defer srv.archives.mu.Unlock()
	for _, rec := range srv.archives.list {
		if rec.id == id {
			return rec, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrArchiveNotFound, id)
}

// OnArchiveStarted sets the callback run when an archive of the session
// starts. In a cluster, each node's Session is told of every node's
// archives, as its clients are.
func (s *Session) OnArchiveStarted(f func(Archive)) {
	s.mu.Lock()
	defer s.unlock()
	s.h.archiveStarted = f
}

// OnArchiveStopped sets the callback run when an archive of the session
// stops or fails (its Status says which); in a cluster, an archive whose
// node left fails.
func (s *Session) OnArchiveStopped(f func(Archive)) {
	s.mu.Lock()
	defer s.unlock()
	s.h.archiveStopped = f
}

// OnArchiveStatus sets the callback run at each change of status of an
// archive of the session that this server records: started, paused,
// stopped, then available or failed, as OpenTok's archive status
// callbacks (and Config.Webhook) tell them. A composed archive is
// available, or failed, a while after it stopped, once it is composed
// and stored: this callback tells when, even after the session closed.
func (s *Session) OnArchiveStatus(f func(Archive)) {
	s.mu.Lock()
	defer s.unlock()
	s.h.archiveStatus = f
}

// archiveStatusChanged runs the host's OnArchiveStatus callback with a,
// in order with the session's other callbacks. Its caller may hold a
// recording's lock: the callback is looked up when it runs.
func (s *Session) archiveStatusChanged(a Archive) {
	s.events.post(func() {
		s.mu.Lock()
		f := s.h.archiveStatus
		s.unlock()
		if f != nil {
			f(a)
		}
	})
}

// runningArchivesLocked returns the session's archives that record. The
// caller holds s.mu.
func (s *Session) runningArchivesLocked() []*recording {
	var list []*recording
	for _, rec := range s.recordings {
		if rec.running() {
			list = append(list, rec)
		}
	}
	return list
}
