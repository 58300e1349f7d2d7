package client

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pion/webrtc/v3"
	"github.com/pion/webrtc/v3/pkg/media"
)

// SynthOptions tune Publisher.Synthesize. The zero value sends 160x120
// video at 15 frames and 400 kbit/s a second.
type SynthOptions struct {
	// FrameRate is video frames a second; default 15.
	FrameRate int
	// Bitrate is video bits a second, reached by padding the frames;
	// default 400 kbit/s. A frame is never smaller than its minimal size,
	// about 1.1 kB plus 25 bytes a 16x16 macroblock (37 in keyframes), so
	// small bitrates at large sizes come out higher: 160x120 needs 3 kB a
	// frame (4 kB for keyframes), 320x240 8.5 kB (12 kB), 640x480 30 kB
	// (45 kB).
	Bitrate int
	// Width and Height are the coded video size; default 160x120,
	// whatever size the stream announced (PublishOptions.Width, Height).
	Width, Height int
	// KeyframeInterval is how often a keyframe is sent unasked; default 2 s.
	// Keyframes are also sent when the server asks for one.
	KeyframeInterval time.Duration
	// Tag, when set, marks every video frame with it and the frame's
	// number (1, 2, ...), which ReadSynthMark reads back on the receiving
	// side: tests tell whose video they get and whether frames went
	// missing. It adds 25 bytes and the tag's to each frame; at most 255
	// bytes.
	Tag string
}

// synthMagic starts the mark of a tagged synthetic frame.
const synthMagic = "CBsy"

// synthMarkGap is the zeros between a frame's VP8 data and its mark, so
// that a decoder, whose boolean decoder reads a little ahead, never sees
// the mark.
const synthMarkGap = 16

// markFrame appends to a VP8 frame the gap and the mark of frame n of
// tag: the magic, n, the tag and its length.
func markFrame(frame []byte, tag string, n uint32) []byte {
	frame = append(frame, make([]byte, synthMarkGap)...)
	frame = append(frame, synthMagic...)
	frame = binary.BigEndian.AppendUint32(frame, n)
	frame = append(frame, tag...)
	return append(frame, byte(len(tag)))
}

// ReadSynthMark reads the mark of a video frame that Synthesize sent with
// SynthOptions.Tag: the tag and the frame's number. ok is false for a
// frame without a mark, or one that arrived incomplete.
func ReadSynthMark(frame []byte) (tag string, n uint32, ok bool) {
	if len(frame) < 1 {
		return "", 0, false
	}
	size := int(frame[len(frame)-1])
	end := len(frame) - 1 - size // where the tag starts
	start := end - 4 - len(synthMagic)
	if start < 0 || string(frame[start:start+len(synthMagic)]) != synthMagic {
		return "", 0, false
	}
	return string(frame[end : end+size]), binary.BigEndian.Uint32(frame[end-4 : end]), true
}

// opusSilence is one 20 ms Opus frame of silence: a CELT-only fullband
// 20 ms mono TOC byte, then a frame the decoder reads as silence.
var opusSilence = []byte{0xf8, 0xff, 0xfe}

const opusFrame = 20 * time.Millisecond

// synthBurst is how many video frames Synthesize sends at once when it
// is behind the clock, as a camera's driver queues a few: the rest go at
// its next ticks, rather than in one burst that a receiver's socket
// buffer may not hold.
const synthBurst = 4

// Synthesize sends synthetic media on the stream until ctx ends, for bots
// and load tests: Opus silence every 20 ms on the audio track, and on the
// video track VP8 frames that VP8 decoders (Chromium's included) decode to
// a still grey picture, keyframes on request and every KeyframeInterval,
// interframes between them. Each sample is stamped with its place on the
// wall clock, as a camera's are, even when the machine is too busy to
// send it on time. It needs a stream published with samples (not
// PublishOptions.RTP), with Opus audio and VP8 video. Frames written while
// the kind is not published are dropped. It returns nil when ctx ends, and
// an error when the stream ended or a write failed.
func (p *Publisher) Synthesize(ctx context.Context, opts SynthOptions) error {
	if p.opts.RTP {
		return errors.New("client: synthesize: the stream was published for RTP, not samples")
	}
	audio, video := p.opts.Audio, p.opts.Video
	if audio && !strings.EqualFold(p.opts.AudioCodec, webrtc.MimeTypeOpus) {
		return fmt.Errorf("client: synthesize: audio codec %s is not Opus", p.opts.AudioCodec)
	}
	if video && !strings.EqualFold(p.opts.VideoCodec, webrtc.MimeTypeVP8) {
		return fmt.Errorf("client: synthesize: video codec %s is not VP8", p.opts.VideoCodec)
	}
	if opts.FrameRate <= 0 {
		opts.FrameRate = 15
	}
	if opts.Bitrate <= 0 {
		opts.Bitrate = 400_000
	}
	if opts.Width <= 0 || opts.Height <= 0 {
		opts.Width, opts.Height = 160, 120
	}
	if opts.Width >= 1<<14 || opts.Height >= 1<<14 {
		return fmt.Errorf("client: synthesize: %dx%d exceeds VP8's 16383x16383", opts.Width, opts.Height)
	}
	if opts.KeyframeInterval <= 0 {
		opts.KeyframeInterval = 2 * time.Second
	}
	if len(opts.Tag) > 255 {
		return fmt.Errorf("client: synthesize: a tag of %d bytes exceeds 255", len(opts.Tag))
	}
	frameTime := time.Second / time.Duration(opts.FrameRate)
	frameSize := opts.Bitrate / 8 / opts.FrameRate

	var audioTick, videoTick <-chan time.Time
	if audio {
		t := time.NewTicker(opusFrame)
		defer t.Stop()
		audioTick = t.C
	}
	if video {
		t := time.NewTicker(frameTime)
		defer t.Stop()
		videoTick = t.C
	}
	// Each frame is stamped with its place on the wall clock, as a
	// camera's are: a sender woken late (a busy machine drops ticks)
	// sends the frames that fell due meanwhile, synthBurst at a time, so
	// the stream's timestamps keep up with the clock and no frame goes
	// missing.
	start := time.Now()
	var sounds, frames int64 // sent
	lastKey := start.Add(-opts.KeyframeInterval)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.done:
			return p.err()
		case <-audioTick:
			for due := int64(time.Since(start) / opusFrame); sounds < due; sounds++ {
				if err := p.WriteSample(webrtc.RTPCodecTypeAudio, media.Sample{Data: opusSilence, Duration: opusFrame}); err != nil {
					return err
				}
			}
		case <-videoTick:
			for due := min(int64(time.Since(start)/frameTime), frames+synthBurst); frames < due; {
				frames++
				at := start.Add(time.Duration(frames) * frameTime)
				key := at.Sub(lastKey) >= opts.KeyframeInterval
				select {
				case <-p.keyframes:
					key = true
				default:
				}
				if key {
					lastKey = at
				}
				frame := vp8Frame(key, opts.Width, opts.Height, frameSize)
				if opts.Tag != "" {
					frame = markFrame(frame, opts.Tag, uint32(frames))
				}
				if err := p.WriteSample(webrtc.RTPCodecTypeVideo, media.Sample{Data: frame, Duration: frameTime}); err != nil {
					return err
				}
			}
		}
	}
}

// Sizes of a VP8 frame whose partitions are all zero bytes (RFC 6386).
// A boolean decoder fed zeros reads every boolean as 0, whatever its
// probability, so such a frame decodes to known values without the
// encoder knowing the probability tables: no header flags, quantizer 0,
// no probability updates, no skipped macroblocks; in a keyframe every
// macroblock is B_PRED with B_DC_PRED subblocks, in an interframe intra
// DC_PRED; chroma DC_PRED; every block's first token end-of-block. The
// picture is grey (128, 129 near the left edge). What the decoder cannot know is how many
// bits each boolean consumes: at most 7 (probability 1), so each partition
// gets 7 bits per boolean it holds, and reading past its end, which
// decoders treat as corruption, cannot happen.
const (
	vp8HeaderBools      = 128            // every field of either frame header but the two below
	vp8TokenProbUpdates = 4 * 8 * 3 * 11 // one flag per coefficient probability
	vp8MVProbUpdates    = 2 * 19         // interframes: one flag per motion vector probability
	vp8KeyMBBools       = 1 + 16 + 1     // B_PRED, 16 subblock modes, chroma mode
	vp8InterMBBools     = 1 + 1 + 1      // intra, luma mode, chroma mode
	vp8KeyMBTokens      = 16 + 8         // luma and chroma blocks, one end-of-block each
	vp8InterMBTokens    = 1 + 16 + 8     // Y2, luma and chroma blocks
)

// vp8Frame returns a VP8 frame of at least size bytes (see the sizes above):
// the 3-byte frame tag, for keyframes the start code and dimensions, then
// zeros.
func vp8Frame(key bool, width, height, size int) []byte {
	mbs := ((width + 15) / 16) * ((height + 15) / 16)
	first := vp8HeaderBools + vp8TokenProbUpdates
	tokens := 0
	if key {
		first += mbs * vp8KeyMBBools
		tokens = mbs * vp8KeyMBTokens
	} else {
		first += vp8MVProbUpdates + mbs*vp8InterMBBools
		tokens = mbs * vp8InterMBTokens
	}
	firstSize := (7*first + 7) / 8
	header := 3
	if key {
		header += 7
	}
	n := max(size, header+firstSize+(7*tokens+7)/8)
	b := make([]byte, n)
	// Frame tag: bit 0 is 0 for a keyframe, bits 1-3 the version (0),
	// bit 4 show_frame, bits 5-23 the first partition's size.
	tag := uint32(firstSize)<<5 | 1<<4
	if !key {
		tag |= 1
	}
	b[0], b[1], b[2] = byte(tag), byte(tag>>8), byte(tag>>16)
	if key {
		b[3], b[4], b[5] = 0x9d, 0x01, 0x2a
		binary.LittleEndian.PutUint16(b[6:], uint16(width)) // scale 0
		binary.LittleEndian.PutUint16(b[8:], uint16(height))
	}
	return b
}
