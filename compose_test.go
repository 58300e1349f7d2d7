package crossbar_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"
	"github.com/pion/webrtc/v3/pkg/media"
	"github.com/pion/webrtc/v3/pkg/media/ivfreader"
	"github.com/pion/webrtc/v3/pkg/media/oggreader"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/archive"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/internal/mediatest"
	"github.com/crossbar-rtc/crossbar/sfu"
)

// colourMedia is a second of VP8 video of w x h in one colour, every
// frame a keyframe, and of a 440 Hz tone in 20 ms Opus packets, as ffmpeg
// encodes them.
func colourMedia(t *testing.T, colour string, w, h int) (video, audio [][]byte) {
	t.Helper()
	return lavfiMedia(t, fmt.Sprintf("color=c=%s:s=%dx%d:r=30:d=1", colour, w, h), "-g", "1", "-b:v", "300k")
}

// lavfiMedia is the VP8 video of ffmpeg's lavfi source (at 30 fps), as
// libvpx encodes it with the options vp8 (a keyframe interval, a
// bitrate), and a second of a 440 Hz tone in 20 ms Opus packets.
func lavfiMedia(t *testing.T, source string, vp8 ...string) (video, audio [][]byte) {
	t.Helper()
	mediatest.Need(t)
	dir := t.TempDir()
	ivf, ogg := filepath.Join(dir, "v.ivf"), filepath.Join(dir, "a.ogg")
	for _, args := range [][]string{
		append(append([]string{"-f", "lavfi", "-i", source, "-c:v", "libvpx", "-deadline", "realtime"}, vp8...), "-f", "ivf", ivf),
		{"-f", "lavfi", "-i", "sine=f=440:sample_rate=48000:d=1", "-c:a", "libopus", "-frame_duration", "20", "-page_duration", "20000", "-f", "ogg", ogg},
	} {
		if out, err := exec.Command("ffmpeg", append([]string{"-v", "error"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
		}
	}
	r, _, err := ivfreader.NewWith(open(t, ivf))
	if err != nil {
		t.Fatal(err)
	}
	o, _, err := oggreader.NewWith(open(t, ogg))
	if err != nil {
		t.Fatal(err)
	}
	video = readAll(t, func() ([]byte, error) { b, _, err := r.ParseNextFrame(); return b, err })
	for _, page := range readAll(t, func() ([]byte, error) { b, _, err := o.ParseNextPage(); return b, err }) {
		if !strings.HasPrefix(string(page), "OpusTags") { // the header after OpusHead
			audio = append(audio, page)
		}
	}
	return video, audio
}

// open opens a file until the test ends.
func open(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// readAll returns what next returns until io.EOF.
func readAll(t *testing.T, next func() ([]byte, error)) [][]byte {
	t.Helper()
	var all [][]byte
	for {
		b, err := next()
		if errors.Is(err, io.EOF) {
			return all
		} else if err != nil {
			t.Fatal(err)
		}
		all = append(all, b)
	}
}

// publishColour publishes from c a stream of w x h video in one colour
// and a tone, until the test ends.
func publishColour(t *testing.T, c *client.Session, colour string, w, h int) *client.Publisher {
	t.Helper()
	video, audio := colourMedia(t, colour, w, h)
	var frames atomic.Pointer[[][]byte]
	frames.Store(&video)
	return publishFrames(t, c, colour, w, h, &frames, audio)
}

// publishFrames publishes from c a stream named name of w x h video,
// the frames (keyframes all) of video over and over, and the Opus packets
// of audio, until the test ends. Another frames stored in video changes
// the picture at the next frame; none stalls the video.
func publishFrames(t *testing.T, c *client.Session, name string, w, h int, video *atomic.Pointer[[][]byte], audio [][]byte) *client.Publisher {
	t.Helper()
	v, a := 0, 0
	return publishSamples(t, c, name, w, h, func(kind webrtc.RTPCodecType, _ time.Time) []byte {
		if kind == webrtc.RTPCodecTypeAudio {
			a++
			return audio[(a-1)%len(audio)]
		}
		frames := *video.Load()
		if len(frames) == 0 {
			return nil
		}
		v++
		return frames[(v-1)%len(frames)]
	})
}

// publishSamples publishes from c a stream named name of w x h video
// (VP8) and Opus audio, until the test ends: a video frame every 30th of
// a second and an audio packet every 20 ms, each the sample that next
// returns for the time it is sent (nil: none).
func publishSamples(t *testing.T, c *client.Session, name string, w, h int, next func(kind webrtc.RTPCodecType, now time.Time) []byte) *client.Publisher {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub, err := c.Publish(ctx, client.PublishOptions{Name: name, Audio: true, Video: true, Width: w, Height: h})
	if err != nil {
		t.Fatalf("publish %s: %v", name, err)
	}
	sendCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		vt, at := time.NewTicker(time.Second/30), time.NewTicker(20*time.Millisecond)
		defer vt.Stop()
		defer at.Stop()
		// Each sample lasts until the next, as a camera's do: a busy
		// machine's late ticks do not slow the stream's clock.
		last := map[webrtc.RTPCodecType]time.Time{webrtc.RTPCodecTypeVideo: time.Now(), webrtc.RTPCodecTypeAudio: time.Now()}
		for {
			var kind webrtc.RTPCodecType
			var now time.Time
			select {
			case <-sendCtx.Done():
				return
			case now = <-vt.C:
				kind = webrtc.RTPCodecTypeVideo
			case now = <-at.C:
				kind = webrtc.RTPCodecTypeAudio
			}
			b := next(kind, now)
			if b == nil {
				continue
			}
			if err := pub.WriteSample(kind, media.Sample{Data: b, Duration: now.Sub(last[kind])}); err != nil {
				return
			}
			last[kind] = now
		}
	}()
	t.Cleanup(func() {
		stop()
		<-done
	})
	if _, err := pub.WaitCreated(ctx); err != nil {
		t.Fatal(err)
	}
	return pub
}

var (
	red   = mediatest.Colour{255, 0, 0}
	blue  = mediatest.Colour{0, 0, 255}
	black = mediatest.Colour{}
)

// waitComposed waits until a composed archive is available, and returns
// it and its file's path.
func waitComposed(t *testing.T, srv *crossbar.Server, dir archive.Dir, id string) (crossbar.Archive, string) {
	t.Helper()
	var a crossbar.Archive
	waitFor(t, 2*time.Minute, "the archive to be composed", func() bool {
		a, _ = srv.Archive(context.Background(), id)
		return a.Status != crossbar.ArchiveStopped && a.Status != crossbar.ArchiveStarted
	})
	if a.Status != crossbar.ArchiveAvailable {
		t.Fatalf("composed archive: %+v", a)
	}
	return a, dir.Path(id, crossbar.ComposedArchiveFile)
}

// A composed archive of a Chromium page and two Go publishers (one red,
// one blue) at 1280x720: one MP4 of H.264 and AAC, as long as the
// archive, in which each publisher is seen where bestFit puts it, then,
// after SetArchiveLayout, where horizontalPresentation does (blue, of
// layout class focus, large); their tones are heard.
func TestComposedArchive(t *testing.T) {
	dir := archive.Dir(t.TempDir())
	r := newJSRigConfig(t, crossbar.Config{Media: sfu.Config{LoopbackOnly: true}, Archives: dir})
	s := r.session()
	p, _ := r.join("publisher", s, crossbar.RolePublisher)
	publish(t, p, `{resolution: '640x480'}`)
	ctx := context.Background()
	publishColour(t, r.goClient(ctx, s, "red"), "red", 320, 240)
	bluePub := publishColour(t, r.goClient(ctx, s, "blue"), "blue", 320, 240)
	if err := s.SetLayoutClassLists(map[string][]string{bluePub.StreamID(): {"focus"}}); err != nil {
		t.Fatal(err)
	}

	a, err := r.srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{OutputMode: crossbar.OutputComposed, Resolution: "1280x720"})
	if err != nil {
		t.Fatal(err)
	}
	if a.OutputMode != crossbar.OutputComposed || a.Resolution != "1280x720" {
		t.Fatalf("started: %+v", a)
	}
	recordFor(t, r.srv, a.ID, 5*time.Second)
	if err := r.srv.SetArchiveLayout(ctx, a.ID, crossbar.ArchiveLayout{Type: "horizontalPresentation"}); err != nil {
		t.Fatal(err)
	}
	changed, _ := r.srv.Archive(ctx, a.ID)
	recordFor(t, r.srv, a.ID, changed.Duration+4*time.Second)
	stopped, err := r.srv.StopArchive(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, path := waitComposed(t, r.srv, dir, a.ID)
	if got.Size == 0 || got.Duration != stopped.Duration {
		t.Errorf("available: %+v, stopped: %+v", got, stopped)
	}

	streams, d := mediatest.Probe(t, path)
	if len(streams) != 2 || streams[0].Codec != "h264" || streams[0].Width != 1280 || streams[0].Height != 720 || streams[1].Codec != "aac" {
		t.Fatalf("streams: %+v, want 1280x720 H.264 and AAC", streams)
	}
	if d < stopped.Duration-500*time.Millisecond || d > stopped.Duration+500*time.Millisecond {
		t.Errorf("the file lasts %v, the archive %v", d, stopped.Duration)
	}
	if want := int(d.Seconds() * archive.ComposedFrameRate * 0.98); streams[0].Frames < want {
		t.Errorf("%d video frames in %v, want %d", streams[0].Frames, d, want)
	}
	if db := mediatest.Loudness(t, path); db < -40 {
		t.Errorf("the audio's mean volume is %.1f dB: the tones are not heard", db)
	}
	t.Logf("%v at 1280x720: %d bytes, %.2f MB a minute", d, got.Size, float64(got.Size)/d.Minutes()/1e6)

	// Each tile's middle, in bestFit (2x2, the last row centred) and in
	// horizontalPresentation (blue large on top, the others in a row at
	// the bottom).
	centre := func(x, y, w, h int) [2]int { return [2]int{x + w/2 - 4, y + h/2 - 4} }
	check := func(at time.Duration, tiles [][2]int, want map[string]int) {
		t.Helper()
		got := map[string]int{}
		for i, c := range mediatest.Colours(t, path, 1280, at, tiles...) {
			switch {
			case c.Near(red, 40):
				got["red"]++
			case c.Near(blue, 40):
				got["blue"]++
			case c.Near(black, 16):
				got["black"]++
			default: // Chromium's fake camera
				got["page"]++
			}
			t.Logf("at %v, tile %d: %v", at, i, c)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("at %v the tiles show %v, want %v", at, got, want)
		}
	}
	check(changed.Duration-time.Second, [][2]int{centre(0, 0, 640, 360), centre(640, 0, 640, 360), centre(320, 360, 640, 360)},
		map[string]int{"page": 1, "red": 1, "blue": 1})
	check(changed.Duration+2*time.Second, [][2]int{centre(0, 0, 1280, 576), centre(384, 576, 256, 144), centre(640, 576, 256, 144)},
		map[string]int{"page": 1, "red": 1, "blue": 1})
	if c := mediatest.Colours(t, path, 1280, changed.Duration+2*time.Second, centre(0, 0, 1280, 576)); !c[0].Near(blue, 40) {
		t.Errorf("after the layout change, the large tile is %v, want blue (focus)", c[0])
	}
	if err := r.srv.DeleteArchive(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the deleted archive's file: %v", err)
	}
}

// A composed archive whose ffmpeg is missing or fails is failed, with the
// reason; the session goes on: its stream is recorded again.
func TestComposedArchiveFails(t *testing.T) {
	mediatest.Need(t)
	for _, ffmpeg := range []string{"/nonexistent/ffmpeg", "false"} {
		t.Run(filepath.Base(ffmpeg), func(t *testing.T) {
			h, dir := archiveHarness(t, crossbar.Config{FFmpeg: ffmpeg})
			s := h.session()
			pub := publishColour(t, h.mediaClient(s, h.ws, "red", nil, client.Options{}), "red", 320, 240)
			ctx := context.Background()
			a, err := h.srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{OutputMode: crossbar.OutputComposed, Layout: crossbar.ArchiveLayout{Type: "pip"}})
			if err != nil {
				t.Fatal(err)
			}
			recordFor(t, h.srv, a.ID, time.Second)
			if _, err := h.srv.StopArchive(ctx, a.ID); err != nil {
				t.Fatal(err)
			}
			if err := h.srv.SetArchiveLayout(ctx, a.ID, crossbar.ArchiveLayout{Type: "bestFit"}); !errors.Is(err, crossbar.ErrArchiveConflict) {
				t.Errorf("the layout of a stopped archive: %v", err)
			}
			waitFor(t, time.Minute, "the archive to fail", func() bool {
				a, _ = h.srv.Archive(ctx, a.ID)
				return a.Status == crossbar.ArchiveFailed
			})
			if !strings.Contains(a.Reason, ffmpeg) {
				t.Errorf("reason %q does not name %s", a.Reason, ffmpeg)
			}
			if _, err := os.Stat(dir.Path(a.ID, crossbar.ComposedArchiveFile)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a failed archive's file: %v", err)
			}

			again, err := h.srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{})
			if err != nil {
				t.Fatal(err)
			}
			recordFor(t, h.srv, again.ID, time.Second)
			if _, err := h.srv.StopArchive(ctx, again.ID); err != nil {
				t.Fatal(err)
			}
			if m := manifest(t, dir, again.ID); len(m.Files) != 1 || m.Files[0].StreamID != pub.StreamID() || m.Files[0].Size == 0 {
				t.Fatalf("the archive after: %+v", m)
			}
		})
	}
}
