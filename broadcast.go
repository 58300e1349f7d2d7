package crossbar

import (
	"context"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
)

// Broadcasts, as OpenTok's live streaming: the host starts one for a
// session (StartBroadcast), and its streams, composed live into one
// picture and sound in one of OpenTok's layouts, go to up to
// MaxBroadcastRTMP RTMP servers and to an HLS playlist that Handler
// serves. Package live is the composition engine (ffmpeg, Config.FFmpeg);
// broadcaster.go drives it.

// BroadcastStatus is where a broadcast is in its life, as OpenTok names
// it.
type BroadcastStatus string

// Broadcast statuses: started until the host stops it (or MaxDuration
// passes, or the session closes), or failed, with a reason, when the
// composition engine could not start or ended, or every output failed.
const (
	BroadcastStarted BroadcastStatus = "started"
	BroadcastStopped BroadcastStatus = "stopped"
	BroadcastFailed  BroadcastStatus = "failed"
)

// RTMPStatus is where an RTMP output of a broadcast is, as OpenTok names
// it: connecting until the server took the first bytes, live, then
// offline once the broadcast ended, or error (the server refused, or the
// link broke), with a reason.
type RTMPStatus string

// RTMP output statuses.
const (
	RTMPConnecting RTMPStatus = "connecting"
	RTMPLive       RTMPStatus = "live"
	RTMPOffline    RTMPStatus = "offline"
	RTMPError      RTMPStatus = "error"
)

// Limits of broadcasts, as OpenTok's.
const (
	MaxBroadcastRTMP         = 5
	MinBroadcastDuration     = 60 * time.Second
	MaxBroadcastDuration     = 10 * time.Hour
	DefaultBroadcastDuration = 4 * time.Hour
	MinBroadcastBitrate      = 100_000
	MaxBroadcastBitrate      = 6_000_000
)

// BroadcastOptions are the options of StartBroadcast.
type BroadcastOptions struct {
	// Layout arranges the streams, as a composed archive's; empty means
	// bestFit.
	Layout ArchiveLayout
	// MaxDuration stops the broadcast after that long, from
	// MinBroadcastDuration to MaxBroadcastDuration; zero means
	// DefaultBroadcastDuration.
	MaxDuration time.Duration
	// Resolution is one of ArchiveResolutions; empty means 640x480.
	Resolution string
	// MaxBitrate is the video's bitrate in bits a second, from
	// MinBroadcastBitrate to MaxBroadcastBitrate; zero: by resolution.
	MaxBitrate int
	// Outputs: RTMP servers and an HLS playlist, at least one.
	Outputs BroadcastOutputs
	// MultiBroadcastTag lets the session have more than one broadcast at
	// a time: one per tag.
	MultiBroadcastTag string
	// StreamMode: auto (default: every stream of the session, with its
	// audio and video), or manual: those the host adds with
	// AddBroadcastStream.
	StreamMode StreamMode
}

// BroadcastOutputs are where a broadcast goes.
type BroadcastOutputs struct {
	RTMP []RTMPOutput // at most MaxBroadcastRTMP
	HLS  *HLSOptions  // nil: no HLS
}

// RTMPOutput is an RTMP server a broadcast streams to: ServerURL
// (rtmp://host[:port]/app) and StreamName. In a Broadcast, Status and
// Reason say how it goes.
type RTMPOutput struct {
	ID         string // the host's name for it, optional
	ServerURL  string
	StreamName string
	Status     RTMPStatus
	Reason     string // why it is in error
}

// HLSOptions are a broadcast's HLS playlist's: DVR keeps all of it, so
// players can seek back (else it holds the last 6 segments); LowLatency
// makes segments of 1 s instead of 2 (ffmpeg writes no LL-HLS partial
// segments).
type HLSOptions struct {
	DVR, LowLatency bool
}

// Broadcast is a broadcast as it was when asked for.
type Broadcast struct {
	ID, SessionID string
	CreatedAt     time.Time
	UpdatedAt     time.Time // of its last change of status
	MaxDuration   time.Duration
	Resolution    string
	MaxBitrate    int
	Status        BroadcastStatus
	// Reason says why it failed, or why it stopped: maxDuration,
	// sessionClosed; empty when the host stopped it.
	Reason            string
	MultiBroadcastTag string
	StreamMode        StreamMode
	// Streams are, in manual stream mode, the streams added and still
	// broadcast (by StreamID), with the media of each that is.
	Streams []ArchiveStream
	Layout  ArchiveLayout
	// HLSURL is the HLS playlist's path below Handler's prefix
	// ("broadcast/<id>/hls/index.m3u8"), served while the broadcast is
	// started; empty without HLS.
	HLSURL string
	HLS    *HLSOptions
	RTMP   []RTMPOutput
}

// broadcasts are a server's broadcasts, by id, oldest first.
type broadcasts struct {
	mu   sync.Mutex
	list []*broadcasting
}

// StartBroadcast starts broadcasting a session: its streams, composed
// live as Layout arranges them, go to the RTMP servers and the HLS
// playlist of opts.Outputs, until StopBroadcast, MaxDuration, or the
// session's end.
//
// It returns ErrBroadcastConflict for a relayed session, whose media
// does not pass through the server, and when the session is already
// broadcast (unless both have different MultiBroadcastTags),
// ErrNotSupported for a custom layout, and
// ErrInvalidOption for options out of range. A broadcast whose
// composition engine (ffmpeg, Config.FFmpeg) cannot start is returned
// failed, with the reason; an RTMP server that refuses the stream is an
// output in error, the others go on. The live session is not disturbed
// either way. In a cluster, a broadcast runs on the node that started it
// (whose Handler serves its HLS playlist); any node gets, lists, stops
// and changes it, and refuses a second one of its session.
func (srv *Server) StartBroadcast(ctx context.Context, sessionID string, opts BroadcastOptions) (Broadcast, error) {
	if err := opts.check(); err != nil {
		return Broadcast{}, err
	}
	s, err := srv.Session(ctx, sessionID)
	if err != nil {
		return Broadcast{}, err
	}
	if err := srv.broadcastElsewhere(ctx, sessionID, opts.MultiBroadcastTag); err != nil {
		return Broadcast{}, err
	}
	return s.startBroadcast(opts)
}

// check refuses options out of range, and fills in defaults.
func (o *BroadcastOptions) check() error {
	if o.Layout.Type == "" {
		o.Layout.Type = "bestFit"
	}
	if err := o.Layout.check(); err != nil {
		return err
	}
	if o.MaxDuration == 0 {
		o.MaxDuration = DefaultBroadcastDuration
	}
	if o.MaxDuration < MinBroadcastDuration || o.MaxDuration > MaxBroadcastDuration {
		return fmt.Errorf("%w: broadcast max duration %v, from %v to %v", ErrInvalidOption, o.MaxDuration, MinBroadcastDuration, MaxBroadcastDuration)
	}
	if o.Resolution == "" {
		o.Resolution = ArchiveResolutions[0]
	}
	if !slices.Contains(ArchiveResolutions, o.Resolution) {
		return fmt.Errorf("%w: resolution %q (one of %v)", ErrInvalidOption, o.Resolution, ArchiveResolutions)
	}
	if o.MaxBitrate != 0 && (o.MaxBitrate < MinBroadcastBitrate || o.MaxBitrate > MaxBroadcastBitrate) {
		return fmt.Errorf("%w: broadcast max bitrate %d, from %d to %d", ErrInvalidOption, o.MaxBitrate, MinBroadcastBitrate, MaxBroadcastBitrate)
	}
	switch o.StreamMode {
	case "":
		o.StreamMode = StreamModeAuto
	case StreamModeAuto, StreamModeManual:
	default:
		return fmt.Errorf("%w: stream mode %q", ErrInvalidOption, o.StreamMode)
	}
	if len(o.Outputs.RTMP) == 0 && o.Outputs.HLS == nil {
		return fmt.Errorf("%w: a broadcast without outputs (RTMP or HLS)", ErrInvalidOption)
	}
	if n := len(o.Outputs.RTMP); n > MaxBroadcastRTMP {
		return fmt.Errorf("%w: %d RTMP outputs, at most %d", ErrInvalidOption, n, MaxBroadcastRTMP)
	}
	o.Outputs.RTMP = slices.Clone(o.Outputs.RTMP)
	for i, r := range o.Outputs.RTMP {
		if !strings.HasPrefix(r.ServerURL, "rtmp://") && !strings.HasPrefix(r.ServerURL, "rtmps://") {
			return fmt.Errorf("%w: RTMP server URL %q: rtmp:// or rtmps://", ErrInvalidOption, r.ServerURL)
		}
		if r.StreamName == "" || strings.ContainsAny(r.StreamName, " \t\r\n") {
			return fmt.Errorf("%w: RTMP stream name %q", ErrInvalidOption, r.StreamName)
		}
		o.Outputs.RTMP[i].Status, o.Outputs.RTMP[i].Reason = "", ""
	}
	if o.Outputs.HLS != nil {
		hls := *o.Outputs.HLS
		o.Outputs.HLS = &hls
	}
	return nil
}

// StopBroadcast stops a broadcast and returns it, stopped; its outputs
// have ended their streams once it returns. It returns
// ErrBroadcastNotFound for an unknown id, and ErrBroadcastConflict for a
// broadcast no longer running.
func (srv *Server) StopBroadcast(ctx context.Context, id string) (Broadcast, error) {
	return srv.broadcastDo(ctx, id, broadcastOp{Op: opStop})
}

// Broadcast returns a broadcast, by id: in a cluster, any node's.
func (srv *Server) Broadcast(ctx context.Context, id string) (Broadcast, error) {
	return srv.broadcastDo(ctx, id, broadcastOp{Op: opGet})
}

// BroadcastListOptions select the broadcasts Broadcasts lists: those of a
// session (empty: every session's), Count of them (zero: 50, at most
// 1000) from Offset on, newest first, as OpenTok lists them.
type BroadcastListOptions struct {
	SessionID     string
	Offset, Count int
}

// Broadcasts lists the broadcasts (in a cluster, every node's), newest
// first, and returns how many there are in all (as selected by
// SessionID). Another node's are as their last change of status left
// them.
func (srv *Server) Broadcasts(ctx context.Context, opts BroadcastListOptions) ([]Broadcast, int, error) {
	if opts.Count == 0 {
		opts.Count = 50
	}
	if opts.Offset < 0 || opts.Count < 0 || opts.Count > 1000 {
		return nil, 0, fmt.Errorf("%w: offset %d, count %d (at most 1000)", ErrInvalidOption, opts.Offset, opts.Count)
	}
	all, err := srv.allBroadcasts(ctx)
	if err != nil {
		return nil, 0, err
	}
	var sel []Broadcast
	for _, c := range all {
		if opts.SessionID == "" || c.SessionID == opts.SessionID {
			sel = append(sel, c)
		}
	}
	return sel[min(opts.Offset, len(sel)):min(opts.Offset+opts.Count, len(sel))], len(sel), nil
}

// SetBroadcastLayout changes a broadcast's layout from its next picture
// on. It returns ErrBroadcastConflict for a broadcast no longer running.
func (srv *Server) SetBroadcastLayout(ctx context.Context, id string, layout ArchiveLayout) error {
	if err := layout.check(); err != nil {
		return err
	}
	_, err := srv.broadcastDo(ctx, id, broadcastOp{Op: opLayout, Layout: &layout})
	return err
}

// AddBroadcastStream adds a stream to a broadcast of manual stream mode,
// with its audio or video or both, from the next picture on; a stream
// added again keeps its place, with the media asked for now. Only
// streams with video get a tile. It returns ErrStreamNotFound for a
// stream that is not in the broadcast's session, and
// ErrBroadcastConflict for a broadcast in auto mode or no longer running.
func (srv *Server) AddBroadcastStream(ctx context.Context, id string, stream ArchiveStream) error {
	if !stream.HasAudio && !stream.HasVideo {
		return fmt.Errorf("%w: add stream %q with neither audio nor video", ErrInvalidOption, stream.StreamID)
	}
	_, err := srv.broadcastDo(ctx, id, broadcastOp{Op: opAddStream, Stream: &stream})
	return err
}

// RemoveBroadcastStream removes a stream from a broadcast of manual
// stream mode: once it returns, the broadcast's pictures and sound are
// without it. It returns ErrStreamNotFound for a stream the broadcast
// does not have.
func (srv *Server) RemoveBroadcastStream(ctx context.Context, id, streamID string) error {
	_, err := srv.broadcastDo(ctx, id, broadcastOp{Op: opRemoveStream, Stream: &ArchiveStream{StreamID: streamID}})
	return err
}

// broadcasting returns the broadcast with the given id.
func (srv *Server) broadcasting(id string) (*broadcasting, error) {
	srv.broadcasts.mu.Lock()
	defer srv.broadcasts.mu.Unlock()
	for _, b := range srv.broadcasts.list {
		if b.id == id {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrBroadcastNotFound, id)
}

// OnBroadcastStopped sets the callback run when a broadcast of the
// session stops or fails (its Status says which).
func (s *Session) OnBroadcastStopped(f func(Broadcast)) {
	s.mu.Lock()
	defer s.unlock()
	s.h.broadcastStopped = f
}

// hlsPath is the path below Handler's prefix of a broadcast's HLS files.
func hlsPath(id, file string) string { return "broadcast/" + id + "/hls/" + file }

// serveHLS serves a file of a started broadcast's HLS output, at
// ".../broadcast/<id>/hls/<file>" below Handler's prefix; it reports
// whether the path is one.
func (srv *Server) serveHLS(w http.ResponseWriter, r *http.Request) bool {
	dir, file := path.Split(r.URL.Path)
	rest, ok := strings.CutSuffix(dir, "/hls/")
	if !ok {
		return false
	}
	parent, id := path.Split(rest)
	if !strings.HasSuffix(parent, "/broadcast/") {
		return false
	}
	b, err := srv.broadcasting(id)
	if err != nil || b.hls == "" || !b.running() || file == "" || strings.HasPrefix(file, ".") {
		http.NotFound(w, r)
		return true
	}
	switch path.Ext(file) {
	case ".m3u8":
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
		w.Header().Set("Cache-Control", "no-cache")
	case ".ts":
		w.Header().Set("Content-Type", "video/mp2t")
	default:
		http.NotFound(w, r)
		return true
	}
	http.ServeFile(w, r, path.Join(b.hls, file))
	return true
}
