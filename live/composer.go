package live

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/crossbar-rtc/crossbar/archive"
)

// Config is what a Composer makes and where it goes.
type Config struct {
	// FFmpeg is the ffmpeg command (a path, or a name looked up on the
	// PATH); empty means "ffmpeg".
	FFmpeg string
	// Width and Height are the picture's size, even; FrameRate its frames
	// a second (zero: 30).
	Width, Height, FrameRate int
	// Layout and ScreenshareType are OpenTok's, as archive.Arrange takes
	// them; SetLayout changes them.
	Layout, ScreenshareType string
	// VideoBitrate is the H.264 bitrate in bits a second; zero: 2.5 bits
	// a pixel a second (770 kbit/s at 640x480, 2.3 Mbit/s at 1280x720).
	VideoBitrate int
	// RTMP are the RTMP URLs (server URL and stream name) streamed to.
	RTMP []string
	// HLS, if set, is the HLS playlist written.
	HLS *HLS
}

// HLS is an HLS output: a playlist, HLSPlaylist, and its segments in Dir.
type HLS struct {
	Dir string
	// DVR keeps every segment in the playlist, which players can then
	// seek back in; otherwise it holds the last 6.
	DVR bool
	// LowLatency makes 1 s segments and keyframe intervals, not 2 s.
	LowLatency bool
}

// HLSPlaylist is the name of the HLS output's playlist in its Dir.
const HLSPlaylist = "index.m3u8"

// Composer is a live composition (see the package's doc): Add streams to
// it, and Close it when the broadcast ends.
type Composer struct {
	cfg     Config
	enc     *exec.Cmd
	video   io.WriteCloser // the encoder's raw pictures
	sound   *os.File       // and its sound
	encErr  *lastLine
	outputs []*output
	stop    chan struct{} // closed by Close: the clocks stop
	clocks  sync.WaitGroup
	ended   chan struct{} // closed once the encoder and the outputs ended
	failed  chan struct{} // closed when the composition fails
	start   time.Time     // of its clocks: picture and sound are timed from it

	mu      sync.Mutex
	inputs  []*Input // in the order they joined
	draws   []draw   // where each input is drawn, large ones first; nil: to arrange
	closing bool
	err     error
}

// draw is an input drawn at rect.
type draw struct {
	in   *Input
	rect archive.Rect
}

// Start starts a composition: its encoder and outputs, which get a black
// picture and silence until streams are added. Its error says why ffmpeg
// could not start.
func Start(cfg Config) (*Composer, error) {
	if cfg.FFmpeg == "" {
		cfg.FFmpeg = "ffmpeg"
	}
	if cfg.FrameRate == 0 {
		cfg.FrameRate = 30
	}
	if cfg.VideoBitrate == 0 {
		cfg.VideoBitrate = cfg.Width * cfg.Height * 5 / 2
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width%2 != 0 || cfg.Height%2 != 0 {
		return nil, fmt.Errorf("live: picture size %dx%d: positive and even", cfg.Width, cfg.Height)
	}
	if len(cfg.RTMP) == 0 && cfg.HLS == nil {
		return nil, errors.New("live: no output")
	}
	c := &Composer{cfg: cfg, stop: make(chan struct{}), ended: make(chan struct{}), failed: make(chan struct{}), encErr: &lastLine{}}
	gop := 2 * cfg.FrameRate
	if cfg.HLS != nil && cfg.HLS.LowLatency {
		gop = cfg.FrameRate
	}
	c.enc = exec.Command(cfg.FFmpeg, "-nostdin", "-v", "error",
		"-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", fmt.Sprintf("%dx%d", cfg.Width, cfg.Height), "-framerate", fmt.Sprint(cfg.FrameRate), "-thread_queue_size", "64", "-i", "pipe:0",
		"-f", "s16le", "-ar", fmt.Sprint(SampleRate), "-ac", fmt.Sprint(channels), "-thread_queue_size", "64", "-i", "pipe:3",
		"-map", "0:v", "-map", "1:a",
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p", "-g", fmt.Sprint(gop),
		"-b:v", fmt.Sprint(cfg.VideoBitrate), "-maxrate", fmt.Sprint(cfg.VideoBitrate), "-bufsize", fmt.Sprint(cfg.VideoBitrate),
		"-c:a", "aac", "-b:a", "128k", "-f", "mpegts", "-muxdelay", "0", "-flush_packets", "1", "pipe:1")
	var err error
	if c.video, err = c.enc.StdinPipe(); err != nil {
		return nil, fmt.Errorf("live: encoder: %w", err)
	}
	ts, err := c.enc.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("live: encoder: %w", err)
	}
	soundR, soundW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("live: encoder: %w", err)
	}
	c.sound = soundW
	c.enc.ExtraFiles = []*os.File{soundR}
	c.enc.Stderr = c.encErr
	if err := c.enc.Start(); err != nil {
		_, _ = soundR.Close(), soundW.Close()
		return nil, fmt.Errorf("live: start %s: %w", cfg.FFmpeg, err)
	}
	_ = soundR.Close() // the encoder has it
	for _, u := range cfg.RTMP {
		c.outputs = append(c.outputs, startOutput(cfg.FFmpeg, u, "-f", "flv", u))
	}
	if h := cfg.HLS; h != nil {
		c.outputs = append(c.outputs, startOutput(cfg.FFmpeg, "", hlsArgs(*h, gop/cfg.FrameRate)...))
	}
	c.start = time.Now()
	c.clocks.Go(c.drawPictures)
	c.clocks.Go(c.mixSound)
	go c.fanOut(ts)
	return c, nil
}

// hlsArgs are the arguments of ffmpeg's HLS muxer for h, of segments of
// the given seconds.
func hlsArgs(h HLS, seconds int) []string {
	args := []string{"-f", "hls", "-hls_time", fmt.Sprint(seconds), "-hls_segment_filename", h.Dir + "/segment%d.ts"}
	if h.DVR {
		args = append(args, "-hls_list_size", "0", "-hls_playlist_type", "event", "-hls_flags", "independent_segments")
	} else {
		args = append(args, "-hls_list_size", "6", "-hls_flags", "delete_segments+independent_segments")
	}
	return append(args, h.Dir+"/"+HLSPlaylist)
}

// Add adds a stream with the given tracks (nil: absent) to the
// composition, shown as tile after the others if it has video: its decoder starts, and
// its pictures and sound are in the composition once they come.
func (c *Composer) Add(id string, audio, video *archive.Track, tile archive.Tile) (*Input, error) {
	w, h := decodedSize(video, c.cfg.Width, c.cfg.Height)
	in, err := newInput(c.cfg.FFmpeg, id, audio, video, tile, w, h)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		go in.close()
		return nil, errClosed
	}
	c.inputs = append(c.inputs, in)
	c.draws = nil
	return in, nil
}

// Remove takes a stream out of the composition and ends its decoder.
func (c *Composer) Remove(in *Input) {
	c.mu.Lock()
	c.inputs = slices.DeleteFunc(c.inputs, func(o *Input) bool { return o == in })
	c.draws = nil
	c.mu.Unlock()
	in.close()
}

// SetLayout changes the layout from the next picture on.
func (c *Composer) SetLayout(layout, screenshareType string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cfg.Layout, c.cfg.ScreenshareType, c.draws = layout, screenshareType, nil
}

// SetTile changes an input's tile (its layout classes changed) from the
// next picture on.
func (c *Composer) SetTile(in *Input, tile archive.Tile) {
	c.mu.Lock()
	defer c.mu.Unlock()
	in.tile, c.draws = tile, nil
}

// drawsLocked returns where each input is drawn. The caller holds c.mu.
func (c *Composer) drawsLocked() []draw {
	if c.draws != nil {
		return c.draws
	}
	var shown []*Input // those with video: only they have a tile
	var tiles []archive.Tile
	for _, in := range c.inputs {
		if in.video {
			shown, tiles = append(shown, in), append(tiles, in.tile)
		}
	}
	c.draws = []draw{}
	for i, r := range archive.Arrange(c.cfg.Layout, c.cfg.ScreenshareType, c.cfg.Width, c.cfg.Height, tiles) {
		if r != (archive.Rect{}) {
			c.draws = append(c.draws, draw{shown[i], r})
		}
	}
	// Small ones (pip's) over large ones.
	slices.SortStableFunc(c.draws, func(a, b draw) int { return cmp.Compare(b.rect.W*b.rect.H, a.rect.W*a.rect.H) })
	return c.draws
}

// tick waits on t until the n-th period from the Composer's start, or
// until it stops; it reports whether it should go on.
func (c *Composer) tick(t *time.Timer, n int, period time.Duration) bool {
	t.Reset(time.Until(c.start.Add(time.Duration(n) * period)))
	select {
	case <-c.stop:
		return false
	case <-t.C:
		return true
	}
}

// drawPictures writes a picture to the encoder at the frame rate, by the
// clock: when it falls behind, the pictures due go at once, so the
// picture keeps the sound's time.
func (c *Composer) drawPictures() {
	w, h := c.cfg.Width, c.cfg.Height
	canvas, black := make([]byte, w*h*3/2), make([]byte, w*h*3/2)
	sums := make([]uint32, w) // blit's; the pictures drawn are at most w wide
	for i := range black[w*h:] {
		black[w*h+i] = 128 // U and V; Y is 16
	}
	for i := range black[:w*h] {
		black[i] = 16
	}
	period := time.Second / time.Duration(c.cfg.FrameRate)
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for n := 0; c.tick(t, n, period); n++ {
		copy(canvas, black)
		c.mu.Lock()
		for _, d := range c.drawsLocked() {
			d.in.mu.Lock()
			if d.in.picture != nil {
				blit(canvas, w, h, fit(d.rect, d.in.fw, d.in.fh), d.in.picture, d.in.fw, d.in.fh, sums)
			}
			d.in.mu.Unlock()
		}
		c.mu.Unlock()
		if _, err := c.video.Write(canvas); err != nil {
			c.fail(fmt.Errorf("live: encoder: %w", err))
			return
		}
	}
}

// mixSound writes 20 ms of every input's sound, mixed, to the encoder
// every 20 ms, by the clock.
func (c *Composer) mixSound() {
	const chunk = SampleRate * channels / 50
	mix := make([]int32, chunk)
	out := make([]byte, 2*chunk)
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for n := 0; c.tick(t, n, 20*time.Millisecond); n++ {
		clear(mix)
		c.mu.Lock()
		for _, in := range c.inputs {
			in.mixInto(mix)
		}
		c.mu.Unlock()
		for i, v := range mix {
			s := uint16(int16(min(max(v, -32768), 32767)))
			out[2*i], out[2*i+1] = byte(s), byte(s>>8)
		}
		if _, err := c.sound.Write(out); err != nil {
			c.fail(fmt.Errorf("live: encoder: %w", err))
			return
		}
	}
}

// decodedSize is the size a stream's pictures are decoded at: its own (as
// announced; else a quarter of the picture), at most the W x H picture's,
// in its own shape. The Composer scales them to whichever tile the stream
// has at the time.
func decodedSize(video *archive.Track, W, H int) (w, h int) {
	w, h = W/2, H/2
	if video != nil && video.Width > 0 && video.Height > 0 {
		w, h = video.Width, video.Height
	}
	if w > W || h > H {
		r := fit(archive.Rect{W: W, H: H}, w, h)
		w, h = r.W, r.H
	}
	return max(w&^1, 2), max(h&^1, 2)
}

// fit returns the largest rectangle of the shape of a w x h picture in r,
// in its middle, with even sides and corner.
func fit(r archive.Rect, w, h int) archive.Rect {
	fw, fh := r.W, r.H
	if w*r.H > h*r.W { // wider than r
		fh = r.W * h / w
	} else {
		fw = r.H * w / h
	}
	fw, fh = max(fw&^1, 2), max(fh&^1, 2)
	return archive.Rect{X: (r.X + (r.W-fw)/2) &^ 1, Y: (r.Y + (r.H-fh)/2) &^ 1, W: fw, H: fh}
}

// blit draws the yuv420p picture src, sw x sh, into dst's rectangle r
// (dst is w x h): copied if it is r's size, else scaled by averaging the
// source pixels under each drawn one (a box filter) when shrunk, which
// does not alias, and by bilinear interpolation when enlarged, which is
// not blocky. sums, of sw or more, is its working space: it allocates
// nothing.
func blit(dst []byte, w, h int, r archive.Rect, src []byte, sw, sh int, sums []uint32) {
	// The planes: Y, then U and V at half the size.
	dOff, sOff := 0, 0
	for p := range 3 {
		div := 1
		if p > 0 {
			div = 2
		}
		dw := w / div
		d := plane{pix: dst[dOff:], stride: dw, x: r.X / div, y: r.Y / div, w: r.W / div, h: r.H / div}
		s := plane{pix: src[sOff:], stride: sw / div, w: sw / div, h: sh / div}
		switch {
		case d.w == s.w && d.h == s.h:
			for y := range d.h {
				copy(d.row(y), s.row(y))
			}
		case d.w < s.w || d.h < s.h:
			shrink(d, s, sums)
		default:
			enlarge(d, s)
		}
		dOff += dw * (h / div)
		sOff += s.w * s.h
	}
}

// plane is a rectangle of w x h pixels of one plane of a picture, at (x,
// y) in pix, whose rows are stride apart.
type plane struct {
	pix                []byte
	stride, x, y, w, h int
}

// row returns the rectangle's row y.
func (p plane) row(y int) []byte {
	i := (p.y+y)*p.stride + p.x
	return p.pix[i : i+p.w]
}

// shrink draws s into d by a box filter: each pixel of d is the mean of
// the pixels of s under it (at least one). sums, of s.w or more, is where
// the columns of a row of d are added up.
func shrink(d, s plane, sums []uint32) {
	if s.w == 2*d.w && s.h == 2*d.h {
		halve(d, s)
		return
	}
	sums = sums[:s.w]
	step, rest := s.w/d.w, s.w%d.w // x1 = (x+1)*s.w/d.w, kept as x1 + r/d.w
	for y := range d.h {
		y0 := y * s.h / d.h
		y1 := max((y+1)*s.h/d.h, y0+1)
		copy8(sums, s.row(y0))
		for sy := y0 + 1; sy < y1; sy++ {
			for i, v := range s.row(sy) {
				sums[i] += uint32(v)
			}
		}
		// A box is step or step+1 columns wide (one, when enlarged
		// across): its mean, sum/n rounded, is (sum+n/2)*recip>>24.
		var recip, half [2]uint64
		for i := range recip {
			n := (y1 - y0) * max(step+i, 1)
			recip[i], half[i] = uint64((1<<24+n-1)/n), uint64(n/2)
		}
		drow := d.row(y)
		x1, r := 0, 0
		for x := range drow {
			x0 := min(x1, s.w-1) // where the last one ended
			x1, r = x1+step, r+rest
			if r >= d.w {
				x1, r = x1+1, r-d.w
			}
			hi := max(x1, x0+1) // one at least, when it is enlarged across
			var sum uint32
			for _, v := range sums[x0:hi] {
				sum += v
			}
			k := min(max(hi-x0-step, 0), 1)
			drow[x] = byte((uint64(sum) + half[k]) * recip[k] >> 24)
		}
	}
}

// halve draws s into d, of half its sides: each pixel of d is the mean
// of 2x2 of s.
func halve(d, s plane) {
	for y := range d.h {
		top, bottom := s.row(2*y), s.row(2*y+1)
		drow := d.row(y)
		for x := range drow {
			drow[x] = byte((uint(top[2*x]) + uint(top[2*x+1]) + uint(bottom[2*x]) + uint(bottom[2*x+1]) + 2) >> 2)
		}
	}
}

// copy8 copies src's bytes to dst's words.
func copy8(dst []uint32, src []byte) {
	for i, v := range src {
		dst[i] = uint32(v)
	}
}

// enlarge draws s into d by bilinear interpolation between the four
// pixels of s nearest each pixel's centre, with 8-bit weights.
func enlarge(d, s plane) {
	// Positions in s, in 65536ths of its pixels, of the centres of d's.
	xStep, yStep := s.w<<16/d.w, s.h<<16/d.h
	yPos := yStep/2 - 1<<15
	for y := range d.h {
		y0, fy := max(yPos>>16, 0), max(yPos, 0)>>8&255
		top, bottom := s.row(y0), s.row(min(y0+1, s.h-1))
		drow := d.row(y)
		xPos := xStep/2 - 1<<15
		for x := range drow {
			x0, fx := max(xPos>>16, 0), max(xPos, 0)>>8&255
			x1 := min(x0+1, s.w-1)
			t := int(top[x0])*(256-fx) + int(top[x1])*fx
			b := int(bottom[x0])*(256-fx) + int(bottom[x1])*fx
			drow[x] = byte((t*(256-fy) + b*fy + 1<<15) >> 16)
			xPos += xStep
		}
		yPos += yStep
	}
}

// fanOut copies the encoder's stream to the outputs until it ends, then
// ends them and waits for them.
func (c *Composer) fanOut(ts io.Reader) {
	for {
		buf := make([]byte, 32<<10) // shared by the outputs, which only read it
		n, err := ts.Read(buf)
		if n > 0 {
			live := 0
			for _, o := range c.outputs {
				if o.send(buf[:n]) {
					live++
				}
			}
			if live == 0 {
				c.fail(fmt.Errorf("live: every output failed: %w", c.outputs[0].snapshot().Err))
			}
		}
		if err != nil {
			break
		}
	}
	for _, o := range c.outputs {
		o.end()
	}
	err := c.enc.Wait()
	for _, o := range c.outputs {
		<-o.done
	}
	c.mu.Lock()
	closing := c.closing
	c.mu.Unlock()
	if !closing {
		c.fail(fmt.Errorf("live: encoder ended: %v: %s", err, c.encErr.String()))
	}
	close(c.ended)
}

// fail makes the composition fail for err, unless it failed already.
func (c *Composer) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil || c.closing {
		return
	}
	c.err = err
	close(c.failed)
}

// Done is closed once the composition ended: Close, or it failed and its
// encoder ended.
func (c *Composer) Done() <-chan struct{} { return c.ended }

// Failed is closed when the composition failed: its encoder ended, or
// every output did. Err says why.
func (c *Composer) Failed() <-chan struct{} { return c.failed }

// Err returns why the composition failed, if it did.
func (c *Composer) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Outputs returns the RTMP outputs' statuses, in Config.RTMP's order.
func (c *Composer) Outputs() []Output {
	var list []Output
	for _, o := range c.outputs {
		if o.url != "" {
			list = append(list, o.snapshot())
		}
	}
	return list
}

// Close ends the composition: its inputs' decoders, then its encoder,
// and its outputs, which finish their streams (the HLS playlist gets its
// end). It returns why the composition failed, if it did.
func (c *Composer) Close() error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		<-c.ended
		return c.Err()
	}
	c.closing = true
	inputs := c.inputs
	c.inputs, c.draws = nil, nil
	c.mu.Unlock()
	close(c.stop)
	// The encoder ends its stream; a clock blocked on a pipe of an
	// encoder that stopped reading gets an error, which is dropped.
	_, _ = c.video.Close(), c.sound.Close()
	c.clocks.Wait()
	for _, in := range inputs {
		in.close()
	}
	kill := killLater(c.enc)
	<-c.ended
	kill.Stop()
	return c.Err()
}
