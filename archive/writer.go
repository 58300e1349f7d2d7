package archive

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/at-wat/ebml-go/mkvcore"
	"github.com/at-wat/ebml-go/webm"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v3"
	"github.com/pion/webrtc/v3/pkg/media"
	"github.com/pion/webrtc/v3/pkg/media/samplebuilder"
)

// Track describes one track of a recorded stream.
type Track struct {
	// MimeType is the codec: webrtc.MimeTypeOpus, MimeTypeVP8, MimeTypeVP9
	// or MimeTypeH264.
	MimeType  string
	ClockRate uint32
	// Width and Height are the video's size as the file's header gives it;
	// players take the size from the bitstream.
	Width, Height int
}

// ErrUnsupportedCodec is the error of a track whose codec cannot be recorded.
var ErrUnsupportedCodec = errors.New("archive: unsupported codec")

// FileExt returns the extension of the file a stream whose video has the
// codec mime (empty: none) is written to: ".webm" for VP8 and VP9, which
// WebM holds, ".mkv" (Matroska) for H.264, which it does not.
func FileExt(mime string) string {
	if mime == webrtc.MimeTypeH264 {
		return ".mkv"
	}
	return ".webm"
}

// Writer writes one stream's forwarded RTP, audio and video, to a WebM or
// Matroska file (see FileExt). The file starts with the first sample; video
// starts with its first keyframe (H.264: the file does, whose header needs
// its SPS and PPS). A track's timestamps follow its RTP
// timestamps from the moment its first sample came, so gaps (loss,
// mutes, pauses) keep their length. Its methods are safe for concurrent
// use: one goroutine per track may write.
type Writer struct {
	dst *sink

	mu      sync.Mutex
	tracks  map[webrtc.RTPCodecType]*track
	entries []webm.TrackEntry
	start   time.Time // of the file, at its first sample; zero before
	closed  bool
	// avc: the video is H.264, whose track header needs the SPS and PPS
	// of its first keyframe: the file starts there (avc.go).
	avc    bool
	askKey func()
	// interleave: see SetMaxInterleave.
	interleave time.Duration
}

// track is one track of a Writer's file.
type track struct {
	Track
	number   uint64
	sb       *samplebuilder.SampleBuilder
	keyframe func([]byte) bool // nil for audio: every sample is one
	params   [][]byte          // H.264: NAL units that wait for a frame (avc.go)
	block    webm.BlockWriteCloser
	started  bool
	broken   bool      // video lost a frame: it waits for a keyframe
	asked    time.Time // when a keyframe was last asked for
	base     int64     // ms from the file's start to the track's first sample
	prevTS   uint32    // RTP timestamp of the last sample
	elapsed  int64     // RTP ticks since the first sample, unwrapped
}

// NewWriter returns a Writer to dst of a stream with the given tracks
// (nil: absent), at least one. The Writer closes dst.
func NewWriter(dst io.WriteCloser, audio, video *Track) (*Writer, error) {
	if audio == nil && video == nil {
		return nil, fmt.Errorf("archive: a stream with neither audio nor video")
	}
	w := &Writer{dst: newSink(dst), tracks: map[webrtc.RTPCodecType]*track{}, interleave: maxInterleave}
	if audio != nil {
		if audio.MimeType != webrtc.MimeTypeOpus {
			return nil, fmt.Errorf("%w: audio %s", ErrUnsupportedCodec, audio.MimeType)
		}
		t := &track{Track: *audio, number: uint64(len(w.entries) + 1)}
		t.sb = samplebuilder.New(16, &codecs.OpusPacket{}, audio.ClockRate)
		w.tracks[webrtc.RTPCodecTypeAudio] = t
		w.entries = append(w.entries, webm.TrackEntry{
			Name: "Audio", TrackNumber: t.number, TrackUID: t.number, CodecID: "A_OPUS", TrackType: 2,
			Audio: &webm.Audio{SamplingFrequency: float64(audio.ClockRate), Channels: 2},
		})
	}
	if video != nil {
		t := &track{Track: *video, number: uint64(len(w.entries) + 1)}
		var d rtp.Depacketizer
		var codecID string
		switch video.MimeType {
		case webrtc.MimeTypeVP8:
			d, codecID, t.keyframe = &codecs.VP8Packet{}, "V_VP8", vp8Keyframe
		case webrtc.MimeTypeVP9:
			d, codecID, t.keyframe = &codecs.VP9Packet{}, "V_VP9", vp9Keyframe
		case webrtc.MimeTypeH264:
			// Annex B samples, as the depacketizer makes them, become
			// AVC ones (avc.go).
			d, codecID, t.keyframe, w.avc = &codecs.H264Packet{}, "V_MPEG4/ISO/AVC", avcKeyframe, true
		default:
			return nil, fmt.Errorf("%w: video %s", ErrUnsupportedCodec, video.MimeType)
		}
		t.sb = samplebuilder.New(256, d, video.ClockRate, samplebuilder.WithMaxTimeDelay(maxVideoDelay))
		w.tracks[webrtc.RTPCodecTypeVideo] = t
		w.entries = append(w.entries, webm.TrackEntry{
			Name: "Video", TrackNumber: t.number, TrackUID: t.number, CodecID: codecID, TrackType: 1,
			Video: &webm.Video{PixelWidth: uint64(max(video.Width, 1)), PixelHeight: uint64(max(video.Height, 1))},
		})
	}
	return w, nil
}

// OnKeyframeNeeded sets f, called when the video lost a frame, or its
// first keyframe has not come: the frames that follow are left out until
// the next keyframe, which f should ask the publisher for. While none
// comes (it may be lost too), f is called again every keyframeRetry. f
// runs on the goroutine of WriteRTP, and must not call the Writer.
func (w *Writer) OnKeyframeNeeded(f func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.askKey = f
}

// WriteRTP adds a packet of the track of kind; packets of a track the
// Writer does not have are ignored. It returns the error that made the
// file fail, if any: the file is then useless.
func (w *Writer) WriteRTP(kind webrtc.RTPCodecType, p *rtp.Packet) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	t := w.tracks[kind]
	if t == nil || w.closed {
		return w.dst.Err()
	}
	t.sb.Push(p)
	for s := t.sb.Pop(); s != nil; s = t.sb.Pop() {
		if err := w.writeSample(t, s); err != nil {
			return err
		}
	}
	return w.dst.Err()
}

// writeSample writes one sample of t, starting the file if need be.
func (w *Writer) writeSample(t *track, s *media.Sample) error {
	data, config := s.Data, []byte(nil)
	if w.avc && t.keyframe != nil {
		if data, config = t.avcFrame(s.Data); data == nil {
			return nil
		}
	}
	key := t.keyframe == nil || t.keyframe(data)
	if t.keyframe != nil && t.started && !key && (t.broken || s.PrevDroppedPackets > 0) {
		// The frames that refer to the one lost would show garbage.
		t.broken = true
		w.askKeyframe(t)
		return nil
	}
	t.broken = false
	if !t.started && w.avc && t.keyframe != nil {
		key = key && config != nil // a keyframe without its SPS and PPS cannot start the file
		w.entries[t.number-1].CodecPrivate = config
	}
	if !t.started {
		if !key {
			w.askKeyframe(t) // video waits for a keyframe
			return nil
		}
		if w.start.IsZero() {
			if w.avc && t.keyframe == nil {
				return nil // audio waits for the H.264 keyframe that starts the file
			}
			if err := w.begin(); err != nil {
				return err
			}
		}
		t.started, t.base, t.prevTS = true, time.Since(w.start).Milliseconds(), s.PacketTimestamp
	}
	t.elapsed += int64(int32(s.PacketTimestamp - t.prevTS))
	t.prevTS = s.PacketTimestamp
	_, err := t.block.Write(key, t.base+t.elapsed*1000/int64(t.ClockRate), data)
	return err
}

// maxVideoDelay is how long video waits for a missing packet, which the
// server asks its publisher to send again (NACK), before it gives the
// frame up, and asks for a keyframe: the frames that follow are lost
// until one comes.
const maxVideoDelay = 200 * time.Millisecond

// keyframeRetry is how long a video track waits for the keyframe it asked
// for before it asks again.
const keyframeRetry = 500 * time.Millisecond

// askKeyframe asks for a keyframe of t, unless it did within
// keyframeRetry.
func (w *Writer) askKeyframe(t *track) {
	if now := time.Now(); w.askKey != nil && now.Sub(t.asked) >= keyframeRetry {
		t.asked = now
		w.askKey()
	}
}

// maxInterleave is how far behind one of its tracks a file's other track
// may come, unless SetMaxInterleave says otherwise: the blocks of both
// are held that long to be written in time order, and a block that comes
// later than that is left out. A track's packets are read on a goroutine
// of their own: on a busy machine one may lag the other by a second or
// more.
const maxInterleave = 2 * time.Second

// SetMaxInterleave sets how long the blocks of one track wait for the
// other's, before the first sample is written: a file read live (a
// broadcast's decoder) wants its blocks soon more than in order, and
// sets less than the 2 s default, which a recording can afford. A track
// that stalls (a muted stream's sound) delays the other that long.
func (w *Writer) SetMaxInterleave(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.interleave = d
}

// begin writes the file's header.
func (w *Writer) begin() error {
	opts := []mkvcore.BlockWriterOption{
		mkvcore.WithSegmentInfo(&webm.Info{TimecodeScale: 1000000, MuxingApp: "crossbar", WritingApp: "crossbar"}),
		mkvcore.WithBlockInterceptor(mkvcore.MustBlockInterceptor(mkvcore.NewMultiTrackBlockSorter(
			mkvcore.WithMaxTimescaleDelay(w.interleave.Milliseconds()), mkvcore.WithSortRule(mkvcore.BlockSorterDropOutdated)))),
		mkvcore.WithOnFatalHandler(w.dst.fail),
	}
	if w.tracks[webrtc.RTPCodecTypeVideo] != nil {
		if w.tracks[webrtc.RTPCodecTypeVideo].MimeType == webrtc.MimeTypeH264 {
			opts = append(opts, mkvcore.WithEBMLHeader(matroskaHeader))
		}
		// A cluster at the first keyframe after 1 s: seekable files.
		opts = append(opts, mkvcore.WithMinMaxClusterDuration(w.tracks[webrtc.RTPCodecTypeVideo].number, 1000, 10000))
	}
	if _, ok := w.dst.w.(io.WriterAt); ok {
		// Room for the seek index, and the duration filled in at the end.
		opts = append(opts, mkvcore.WithSeekHead(true), mkvcore.WithCues(64<<10))
	}
	var dst io.WriteCloser = w.dst
	if wa, ok := w.dst.w.(io.WriterAt); ok {
		dst = seekableSink{w.dst, wa}
	}
	blocks, err := webm.NewSimpleBlockWriter(dst, w.entries, opts...)
	if err != nil {
		w.dst.fail(err)
		return fmt.Errorf("archive: start file: %w", err)
	}
	for _, t := range w.tracks {
		t.block = blocks[t.number-1]
	}
	w.start = time.Now()
	return nil
}

// matroskaHeader is the EBML header of a Matroska file, for codecs WebM
// does not hold.
var matroskaHeader = &webm.EBMLHeader{
	EBMLVersion: 1, EBMLReadVersion: 1, EBMLMaxIDLength: 4, EBMLMaxSizeLength: 8,
	DocType: "matroska", DocTypeVersion: 4, DocTypeReadVersion: 2,
}

// Started returns when the file's first sample came; zero if none did.
func (w *Writer) Started() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.start
}

// Size returns the bytes written so far.
func (w *Writer) Size() int64 { return w.dst.Size() }

// Close finishes the file (its duration and seek index, if its Storage
// lets the Writer go back) and closes it. It returns the error that made
// the file fail, if any.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.dst.Err()
	}
	w.closed = true
	if w.start.IsZero() {
		w.dst.fail(w.dst.w.Close()) // nothing came: an empty file
		return w.dst.Err()
	}
	for _, t := range w.tracks {
		_ = t.block.Close() // the last one waits until the file is closed; its error is the file's, in w.dst
	}
	return w.dst.Err()
}

// sink is a Writer's destination. It keeps the first error and swallows
// the writes after it, so that the muxer, which cannot stop midway, runs
// to its end: the file has failed, the live session goes on.
type sink struct {
	w io.WriteCloser

	mu   sync.Mutex
	size int64
	err  error
}

func newSink(w io.WriteCloser) *sink { return &sink{w: w} }

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return len(p), nil
	}
	n, err := s.w.Write(p)
	s.size += int64(n)
	if err != nil {
		s.err = fmt.Errorf("archive: write: %w", err)
	}
	return len(p), nil
}

func (s *sink) Close() error {
	s.fail(s.w.Close())
	return nil
}

// fail keeps err, the file's first error, unless it is nil.
func (s *sink) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil && err != nil {
		s.err = fmt.Errorf("archive: %w", err)
	}
}

// Err returns the file's first error.
func (s *sink) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Size returns the bytes written.
func (s *sink) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// seekableSink is a sink whose destination can be written at an offset.
type seekableSink struct {
	*sink
	wa io.WriterAt
}

func (s seekableSink) WriteAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return len(p), nil
	}
	if _, err := s.wa.WriteAt(p, off); err != nil {
		s.err = fmt.Errorf("archive: write: %w", err)
	}
	return len(p), nil
}
