package live

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar/archive"
)

// Sound is what the Composer mixes: 48 kHz, stereo, 16-bit samples.
const (
	SampleRate = 48000
	channels   = 2
	// maxBuffered bounds an input's buffered sound: beyond it the oldest
	// is dropped, so a decoder that bursts adds no lasting delay. It
	// holds the bursts of a stream whose video stalled, whose sound
	// archive.Writer then holds back up to maxInterleave to interleave it
	// with the video that does not come.
	maxBuffered = SampleRate * channels / 2 // 500 ms
	// maxInterleave is how long one track of a stream waits for the
	// other's before it is decoded: the picture of a stream whose sound
	// stopped (muted by a moderator) is that late.
	maxInterleave = 320 * time.Millisecond
)

// Input is one stream of a composition: its RTP goes in with WriteRTP,
// and an ffmpeg of its own decodes it for the Composer.
type Input struct {
	id    string
	tile  archive.Tile
	video bool // whether it has video, and so a tile
	w     *archive.Writer
	cmd   *exec.Cmd
	done  chan struct{} // closed once the decoder's pipes are drained
	fw    int           // the decoded pictures' size
	fh    int

	mu      sync.Mutex
	picture []byte  // the last decoded picture; nil before the first
	sound   []int16 // decoded sound not yet mixed
	err     error   // why the decoder ended, if it failed
}

// newInput starts the decoder of a stream with the given tracks (nil:
// absent), whose pictures are to be w x h.
func newInput(ffmpeg, id string, audio, video *archive.Track, tile archive.Tile, w, h int) (*Input, error) {
	in := &Input{id: id, tile: tile, video: video != nil, fw: w, fh: h, done: make(chan struct{})}
	args := []string{"-nostdin", "-v", "error", "-fflags", "nobuffer", "-probesize", "32768", "-analyzeduration", "0", "-i", "pipe:0"}
	if video != nil {
		args = append(args, "-map", "0:v", "-vf", fmt.Sprintf("scale=%d:%d:force_original_aspect_ratio=decrease,pad=%d:%d:(ow-iw)/2:(oh-ih)/2,format=yuv420p", w, h, w, h),
			"-fps_mode", "passthrough", "-flush_packets", "1", "-f", "rawvideo", "pipe:1")
	}
	if audio != nil {
		args = append(args, "-map", "0:a", "-f", "s16le", "-ar", fmt.Sprint(SampleRate), "-ac", fmt.Sprint(channels), "-flush_packets", "1", "pipe:3")
	}
	in.cmd = exec.Command(ffmpeg, args...)
	stdin, err := in.cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("live: decoder: %w", err)
	}
	pictures, err := in.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("live: decoder: %w", err)
	}
	soundR, soundW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("live: decoder: %w", err)
	}
	in.cmd.ExtraFiles = []*os.File{soundW}
	stderr := &lastLine{}
	in.cmd.Stderr = stderr
	if err := in.cmd.Start(); err != nil {
		_, _ = soundR.Close(), soundW.Close()
		return nil, fmt.Errorf("live: start %s: %w", ffmpeg, err)
	}
	_ = soundW.Close() // the decoder has it
	// A pipe, which the Writer must not take for a file it can go back
	// in: the *os.File behind stdin has WriteAt.
	if in.w, err = archive.NewWriter(struct{ io.WriteCloser }{stdin}, audio, video); err != nil {
		_ = stdin.Close()
		_ = in.cmd.Process.Kill()
		_ = in.cmd.Wait()
		_ = soundR.Close()
		return nil, fmt.Errorf("live: stream %s: %w", id, err)
	}
	in.w.SetMaxInterleave(maxInterleave)
	var wg sync.WaitGroup
	wg.Go(func() { in.readPictures(pictures) })
	wg.Go(func() { in.readSound(soundR) })
	go func() {
		wg.Wait()
		_ = soundR.Close()
		err := in.cmd.Wait()
		if err != nil {
			err = fmt.Errorf("live: decoder of stream %s: %w: %s", id, err, stderr.String())
		}
		in.mu.Lock()
		in.err = err
		in.mu.Unlock()
		close(in.done)
	}()
	return in, nil
}

// WriteRTP adds a packet of the stream's track of kind.
func (in *Input) WriteRTP(kind webrtc.RTPCodecType, p *rtp.Packet) error {
	return in.w.WriteRTP(kind, p)
}

// OnKeyframeNeeded sets f, called when the video lost a frame: f should
// ask the publisher for a keyframe.
func (in *Input) OnKeyframeNeeded(f func()) { in.w.OnKeyframeNeeded(f) }

// Err returns why the decoder failed, once it ended; nil while it runs.
func (in *Input) Err() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.err
}

// close ends the stream's input: the decoder reads to its end and exits.
func (in *Input) close() {
	_ = in.w.Close() // its error is the decoder's, which has ended
	kill := killLater(in.cmd)
	<-in.done
	kill.Stop()
}

// readPictures keeps the decoder's last picture, until its output ends.
func (in *Input) readPictures(r io.Reader) {
	var back []byte
	for {
		if back == nil {
			back = make([]byte, in.fw*in.fh*3/2)
		}
		if _, err := io.ReadFull(r, back); err != nil {
			return
		}
		in.mu.Lock()
		in.picture, back = back, in.picture // the one shown before is read into next
		in.mu.Unlock()
	}
}

// readSound buffers the decoder's sound until its output ends.
func (in *Input) readSound(r io.Reader) {
	buf := make([]byte, 3840) // 20 ms
	for {
		n, err := io.ReadFull(r, buf)
		n &^= 3 // whole stereo samples
		in.mu.Lock()
		for i := 0; i < n; i += 2 {
			in.sound = append(in.sound, int16(uint16(buf[i])|uint16(buf[i+1])<<8))
		}
		if over := len(in.sound) - maxBuffered; over > 0 {
			in.sound = in.sound[:copy(in.sound, in.sound[over:])]
		}
		in.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// mixInto adds up to len(mix) samples of the input's sound to mix.
func (in *Input) mixInto(mix []int32) {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := min(len(mix), len(in.sound))
	for i, v := range in.sound[:n] {
		mix[i] += int32(v)
	}
	in.sound = in.sound[:copy(in.sound, in.sound[n:])]
}

// lastLine keeps the last line a process wrote to it: ffmpeg's last word
// says what went wrong.
type lastLine struct {
	mu        sync.Mutex
	line, cur []byte
}

func (l *lastLine) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range p {
		if c == '\n' {
			if len(l.cur) > 0 {
				l.line, l.cur = append(l.line[:0], l.cur...), l.cur[:0]
			}
			continue
		}
		if len(l.cur) < 1024 {
			l.cur = append(l.cur, c)
		}
	}
	return len(p), nil
}

func (l *lastLine) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.cur) > 0 {
		return string(l.cur)
	}
	return string(l.line)
}

// exitGrace is how long an ffmpeg has to finish once its input ended:
// then it is killed.
const exitGrace = 5 * time.Second

// killLater kills cmd's process after exitGrace, unless the returned
// timer is stopped first.
func killLater(cmd *exec.Cmd) *time.Timer {
	return time.AfterFunc(exitGrace, func() { _ = cmd.Process.Kill() }) // it may have ended: nothing to kill
}

// errClosed is the error of a Composer that was closed.
var errClosed = errors.New("live: composer closed")
