package crossbar_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/internal/mediatest"
	"github.com/crossbar-rtc/crossbar/internal/rtmptest"
)

// broadcastFPS is the frame rate of broadcasts.
const broadcastFPS = 30

// capture copies d of a live stream (an RTMP or HLS URL) to a file of
// the test's, as a player would read it, and returns the file's path.
func capture(t *testing.T, url string, d time.Duration, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	ctx, cancel := context.WithTimeout(context.Background(), d+time.Minute)
	defer cancel()
	b, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-rw_timeout", "20000000", "-i", url,
		"-t", seconds(d), "-c", "copy", out).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg reading %s: %v\n%s", url, err, b)
	}
	return out
}

func seconds(d time.Duration) string { return strings.TrimSuffix(d.String(), "s") }

// checkLive checks a capture of a broadcast: H.264 of the broadcast's
// size with at least 90 % of the frames it lasts at broadcastFPS, and
// AAC; it returns its duration.
func checkLive(t *testing.T, path string, w, h int) time.Duration {
	t.Helper()
	streams, d := mediatest.Probe(t, path)
	var video, audio bool
	for _, s := range streams {
		switch s.Codec {
		case "h264":
			video = true
			t.Logf("%s: %d video frames of %dx%d in %v", filepath.Base(path), s.Frames, s.Width, s.Height, d)
			if s.Width != w || s.Height != h {
				t.Errorf("%s: video of %dx%d, want %dx%d", path, s.Width, s.Height, w, h)
			}
			if want := int(d.Seconds() * broadcastFPS * 0.9); s.Frames < want {
				t.Errorf("%s: %d video frames in %v, want at least %d (90 %% at %d fps)", path, s.Frames, d, want, broadcastFPS)
			}
		case "aac":
			audio = true
		}
	}
	if !video || !audio {
		t.Errorf("%s: streams %+v, want H.264 and AAC", path, streams)
	}
	return d
}

// A broadcast of two Go publishers (red and blue, each with a tone) to
// nginx's RTMP module and to HLS: what a player reads back from nginx
// and, through the server's Handler, from the HLS playlist decodes to the
// broadcast's picture at 30 fps, each publisher where bestFit puts it
// (blue's last picture while its video stalls), and their sound; once
// stopped, the RTMP output is offline and the playlist gone.
func TestBroadcastRTMPAndHLS(t *testing.T) {
	mediatest.Need(t)
	rtmp := rtmptest.Start(t)
	h := newHarness(t, crossbar.Config{})
	s := h.session()
	publishColour(t, h.mediaClient(s, h.ws, "red", nil, client.Options{}), "red", 320, 240)
	blueFrames := publishSwitchable(t, h, s, "blue")

	ctx := context.Background()
	b := startRTMPBroadcast(t, h, s, rtmp, "crossbar", crossbar.BroadcastOptions{Outputs: crossbar.BroadcastOutputs{HLS: &crossbar.HLSOptions{}}})
	if b.Status != crossbar.BroadcastStarted || b.Resolution != "640x480" || b.HLSURL != "broadcast/"+b.ID+"/hls/index.m3u8" || len(b.RTMP) != 1 {
		t.Fatalf("started: %+v", b)
	}

	// Blue's video stalls: its last picture stays, the others go on.
	watchColours(t, rtmp.URL+"/crossbar", 476, 236, blue).when(t, "blue over RTMP")
	blueFrames.Store(&[][]byte{})
	path := capture(t, rtmp.URL+"/crossbar", 5*time.Second, "rtmp.flv")
	d := checkLive(t, path, 640, 480)
	checkTiles(t, path, d)
	if db := mediatest.Loudness(t, path); db < -50 {
		t.Errorf("the RTMP stream's mean volume is %.1f dB: the tones are not heard", db)
	}

	base := "http" + strings.TrimSuffix(strings.TrimPrefix(h.ws, "ws"), "ws")
	waitFor(t, 30*time.Second, "the HLS playlist's second segment", func() bool {
		return strings.Count(get(t, base+b.HLSURL), ".ts") >= 2
	})
	hlsPath := capture(t, base+b.HLSURL, 4*time.Second, "hls.ts")
	checkTiles(t, hlsPath, checkLive(t, hlsPath, 640, 480))

	list, n, err := h.srv.Broadcasts(ctx, crossbar.BroadcastListOptions{SessionID: s.ID()})
	if err != nil || n != 1 || len(list) != 1 || list[0].ID != b.ID {
		t.Fatalf("Broadcasts: %+v, %d, %v", list, n, err)
	}
	stopped, err := h.srv.StopBroadcast(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stopped.Status != crossbar.BroadcastStopped || stopped.RTMP[0].Status != crossbar.RTMPOffline {
		t.Fatalf("stopped: %+v", stopped)
	}
	if _, err := h.srv.StopBroadcast(ctx, b.ID); !errors.Is(err, crossbar.ErrBroadcastConflict) {
		t.Fatalf("StopBroadcast again: %v", err)
	}
	if resp, err := http.Get(base + b.HLSURL); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the playlist of a stopped broadcast: %v, %v", resp, err)
	} else {
		resp.Body.Close()
	}
}

// startRTMPBroadcast starts a broadcast of s with opts and an RTMP
// output to nginx at stream name, and waits until that output is live.
func startRTMPBroadcast(t *testing.T, h *harness, s *crossbar.Session, rtmp *rtmptest.Server, name string, opts crossbar.BroadcastOptions) crossbar.Broadcast {
	t.Helper()
	ctx := context.Background()
	opts.Outputs.RTMP = []crossbar.RTMPOutput{{ID: "nginx", ServerURL: rtmp.URL, StreamName: name}}
	b, err := h.srv.StartBroadcast(ctx, s.ID(), opts)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the RTMP output to be live", func() bool {
		b, _ = h.srv.Broadcast(ctx, b.ID)
		return b.RTMP[0].Status == crossbar.RTMPLive
	})
	return b
}

// checkTiles checks the picture of a broadcast of red and blue in
// bestFit at 640x480 in the middle of a capture that lasts d: red on the
// left, blue on the right, each 320x240 in the middle of its 320x480
// half; black above them.
func checkTiles(t *testing.T, path string, d time.Duration) {
	t.Helper()
	cs := mediatest.Colours(t, path, 640, d/2, [2]int{156, 236}, [2]int{476, 236}, [2]int{156, 40})
	if !cs[0].Near(red, 60) || !cs[1].Near(blue, 60) || !cs[2].Near(black, 30) {
		t.Errorf("%s: colours at the red and blue tiles and above them: %v, want %v, %v, %v", filepath.Base(path), cs, red, blue, black)
	}
}

// get returns the body of a GET of url; empty if it is not a 200.
func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return ""
	}
	return string(b)
}

// Broadcasts refuse bad options and relayed sessions with OpenTok's
// errors; one without ffmpeg, or whose only RTMP server refuses, fails
// with the reason, and the session goes on; an RTMP server that refuses
// beside an HLS output is that output's error alone.
func TestBroadcastBadInput(t *testing.T) {
	mediatest.Need(t)
	h := newHarness(t, crossbar.Config{})
	s := h.session()
	ctx := context.Background()
	hls := crossbar.BroadcastOutputs{HLS: &crossbar.HLSOptions{}}
	rtmp := func(n int, url string) []crossbar.RTMPOutput {
		var list []crossbar.RTMPOutput
		for range n {
			list = append(list, crossbar.RTMPOutput{ServerURL: url, StreamName: "s"})
		}
		return list
	}
	for _, c := range []struct {
		opts crossbar.BroadcastOptions
		want error
	}{
		{crossbar.BroadcastOptions{}, crossbar.ErrInvalidOption},
		{crossbar.BroadcastOptions{Outputs: crossbar.BroadcastOutputs{RTMP: rtmp(6, "rtmp://127.0.0.1/live")}}, crossbar.ErrInvalidOption},
		{crossbar.BroadcastOptions{Outputs: crossbar.BroadcastOutputs{RTMP: rtmp(1, "http://127.0.0.1/live")}}, crossbar.ErrInvalidOption},
		{crossbar.BroadcastOptions{Outputs: hls, MaxDuration: 10 * time.Second}, crossbar.ErrInvalidOption},
		{crossbar.BroadcastOptions{Outputs: hls, Resolution: "100x100"}, crossbar.ErrInvalidOption},
		{crossbar.BroadcastOptions{Outputs: hls, MaxBitrate: 10}, crossbar.ErrInvalidOption},
		{crossbar.BroadcastOptions{Outputs: hls, Layout: crossbar.ArchiveLayout{Type: "custom", Stylesheet: "x"}}, crossbar.ErrNotSupported},
		{crossbar.BroadcastOptions{Outputs: hls, StreamMode: "some"}, crossbar.ErrInvalidOption},
	} {
		if _, err := h.srv.StartBroadcast(ctx, s.ID(), c.opts); !errors.Is(err, c.want) {
			t.Errorf("StartBroadcast %+v: %v, want %v", c.opts, err, c.want)
		}
	}
	relayed, err := h.srv.CreateSession(ctx, crossbar.SessionOptions{MediaMode: crossbar.Relayed})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.srv.StartBroadcast(ctx, relayed.ID(), crossbar.BroadcastOptions{Outputs: hls}); !errors.Is(err, crossbar.ErrBroadcastConflict) {
		t.Errorf("a relayed session: %v", err)
	}

	refusing := refusingRTMP(t)
	pub := h.mediaClient(s, h.ws, "pub", nil, client.Options{})
	publishColour(t, pub, "red", 320, 240)

	b, err := h.srv.StartBroadcast(ctx, s.ID(), crossbar.BroadcastOptions{Outputs: crossbar.BroadcastOutputs{RTMP: rtmp(1, refusing), HLS: &crossbar.HLSOptions{}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.srv.StartBroadcast(ctx, s.ID(), crossbar.BroadcastOptions{Outputs: hls}); !errors.Is(err, crossbar.ErrBroadcastConflict) {
		t.Errorf("a second broadcast: %v", err)
	}
	streamID := s.Streams()[0].ID()
	if err := h.srv.AddBroadcastStream(ctx, b.ID, crossbar.ArchiveStream{StreamID: streamID, HasVideo: true}); !errors.Is(err, crossbar.ErrBroadcastConflict) {
		t.Errorf("adding a stream to an auto-mode broadcast: %v", err)
	}
	if err := h.srv.RemoveBroadcastStream(ctx, b.ID, streamID); !errors.Is(err, crossbar.ErrBroadcastConflict) {
		t.Errorf("removing a stream from an auto-mode broadcast: %v", err)
	}
	waitFor(t, 30*time.Second, "the refused RTMP output's error", func() bool {
		b, _ = h.srv.Broadcast(ctx, b.ID)
		return b.RTMP[0].Status == crossbar.RTMPError
	})
	if b.Status != crossbar.BroadcastStarted || b.RTMP[0].Reason == "" {
		t.Errorf("a broadcast whose RTMP server refused, beside HLS: %+v", b)
	}
	t.Logf("the refused output's reason: %s", b.RTMP[0].Reason)
	if _, err := h.srv.StopBroadcast(ctx, b.ID); err != nil {
		t.Fatal(err)
	}

	b, err = h.srv.StartBroadcast(ctx, s.ID(), crossbar.BroadcastOptions{Outputs: crossbar.BroadcastOutputs{RTMP: rtmp(1, refusing)}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the broadcast to fail", func() bool {
		b, _ = h.srv.Broadcast(ctx, b.ID)
		return b.Status == crossbar.BroadcastFailed
	})
	if !strings.Contains(b.Reason, "every output failed") {
		t.Errorf("failed broadcast's reason: %q", b.Reason)
	}

	h2 := newHarness(t, crossbar.Config{FFmpeg: "/nonexistent/ffmpeg"})
	s2 := h2.session()
	b, err = h2.srv.StartBroadcast(ctx, s2.ID(), crossbar.BroadcastOptions{Outputs: hls})
	if err != nil || b.Status != crossbar.BroadcastFailed || !strings.Contains(b.Reason, "/nonexistent/ffmpeg") {
		t.Fatalf("a broadcast without ffmpeg: %+v, %v", b, err)
	}
	if b, err = h2.srv.StartBroadcast(ctx, s2.ID(), crossbar.BroadcastOptions{Outputs: hls}); err != nil || b.Status != crossbar.BroadcastFailed {
		t.Fatalf("a failed broadcast is no conflict: %+v, %v", b, err)
	}

	// The session went on: its stream's video still flows.
	streams := s.Streams()
	if len(streams) != 1 {
		t.Fatalf("%d streams, want 1", len(streams))
	}
	sub, err := s.Subscribe(streams[0].ID(), crossbar.SubscribeOptions{Video: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	readCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for range 30 {
		if _, err := sub.ReadRTP(readCtx, webrtc.RTPCodecTypeVideo); err != nil {
			t.Fatalf("the session's video after the failed broadcasts: %v", err)
		}
	}
}

// refusingRTMP returns the URL of an RTMP server that refuses
// connections: a free loopback port, where nothing listens.
func refusingRTMP(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "rtmp://" + l.Addr().String() + "/live"
}

// publishSwitchable publishes 320x240 video in colour and a tone from
// a new Go client of s, and returns the frames it sends: another
// colourMedia's stored there changes its picture, none stalls it.
func publishSwitchable(t *testing.T, h *harness, s *crossbar.Session, colour string) *atomic.Pointer[[][]byte] {
	t.Helper()
	video, audio := colourMedia(t, colour, 320, 240)
	frames := new(atomic.Pointer[[][]byte])
	frames.Store(&video)
	publishFrames(t, h.mediaClient(s, h.ws, colour, nil, client.Options{}), colour, 320, 240, frames, audio)
	return frames
}

// colourWatch reads a live stream of 640x480 with ffmpeg, as a player
// would, and tells when each of its spots first has its colour, in turn.
type colourWatch struct {
	seen chan time.Time // one a spot
}

// spot is a colour awaited at a point (x, y) of a 640x480 picture.
type spot struct {
	x, y   int
	colour mediatest.Colour
}

// watchColours starts reading url until the test ends, and watching its
// pixel (x, y) take each of colours.
func watchColours(t *testing.T, url string, x, y int, colours ...mediatest.Colour) *colourWatch {
	t.Helper()
	var spots []spot
	for _, c := range colours {
		spots = append(spots, spot{x, y, c})
	}
	return watchSpots(t, url, spots...)
}

// watchSpots starts reading url until the test ends, and watching for
// each of spots in turn. The picture is read at 16x12, so a spot should
// be 40 pixels inside its tile.
func watchSpots(t *testing.T, url string, spots ...spot) *colourWatch {
	t.Helper()
	const w, h = 16, 12
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-fflags", "nobuffer", "-flags", "low_delay", "-rw_timeout", "20000000",
		"-i", url, "-vf", "scale=16:12", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cw := &colourWatch{seen: make(chan time.Time, len(spots))}
	done := make(chan struct{})
	go func() {
		defer close(done)
		pic := make([]byte, w*h*3)
		next := 0
		for {
			if _, err := io.ReadFull(out, pic); err != nil {
				return
			}
			for next < len(spots) {
				sp := spots[next]
				i := 3 * (sp.y*h/480*w + sp.x*w/640)
				if c := (mediatest.Colour{pic[i], pic[i+1], pic[i+2]}); !c.Near(sp.colour, 60) {
					break
				}
				cw.seen <- time.Now()
				next++
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = cmd.Wait() // killed
	})
	return cw
}

// when waits until the watch saw its next spot, and returns when.
func (cw *colourWatch) when(t *testing.T, what string) time.Time {
	t.Helper()
	select {
	case at := <-cw.seen:
		return at
	case <-time.After(time.Minute):
		t.Fatalf("timed out waiting for %s", what)
		return time.Time{}
	}
}

// Glass-to-glass latency of a broadcast: a Go publisher's picture turns
// from red to blue, and players of the RTMP stream and of the (low
// latency) HLS playlist, ffmpeg reading from the live edge as players do,
// see it turn. It is logged; RTMP's must be under 5 s, HLS's under 20 s.
func TestBroadcastLatency(t *testing.T) {
	mediatest.Need(t)
	rtmp := rtmptest.Start(t)
	h := newHarness(t, crossbar.Config{})
	s := h.session()
	frames := publishSwitchable(t, h, s, "red")
	blueVideo, _ := colourMedia(t, "blue", 320, 240)

	ctx := context.Background()
	b, err := h.srv.StartBroadcast(ctx, s.ID(), crossbar.BroadcastOptions{Outputs: crossbar.BroadcastOutputs{
		RTMP: []crossbar.RTMPOutput{{ServerURL: rtmp.URL, StreamName: "latency"}},
		HLS:  &crossbar.HLSOptions{LowLatency: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	base := "http" + strings.TrimSuffix(strings.TrimPrefix(h.ws, "ws"), "ws")
	waitFor(t, 30*time.Second, "the HLS playlist's third segment", func() bool {
		return strings.Count(get(t, base+b.HLSURL), ".ts") >= 3
	})
	viaRTMP := watchColours(t, rtmp.URL+"/latency", 320, 240, red, blue)
	viaHLS := watchColours(t, base+b.HLSURL, 320, 240, red, blue)
	viaRTMP.when(t, "red over RTMP")
	viaHLS.when(t, "red over HLS")
	cpu, start, segment := composerCPU(t), time.Now(), lastSegment(get(t, base+b.HLSURL))
	waitFor(t, 30*time.Second, "5 more HLS segments", func() bool {
		return lastSegment(get(t, base+b.HLSURL)) >= segment+5
	})
	t.Logf("the composition's ffmpeg processes (a decoder, the encoder, RTMP and HLS copies) used %.1f %% of a core, 1 stream of 320x240 into 640x480",
		100*composerCPU(t).since(cpu).total().Seconds()/time.Since(start).Seconds())
	turned := time.Now()
	frames.Store(&blueVideo)
	rtmpLatency := viaRTMP.when(t, "blue over RTMP").Sub(turned)
	hlsLatency := viaHLS.when(t, "blue over HLS").Sub(turned)
	t.Logf("glass-to-glass latency: RTMP %v, HLS (1 s segments) %v", rtmpLatency.Round(time.Millisecond), hlsLatency.Round(time.Millisecond))
	if rtmpLatency > 5*time.Second || hlsLatency > 20*time.Second {
		t.Errorf("latency: RTMP %v (want under 5 s), HLS %v (want under 20 s)", rtmpLatency, hlsLatency)
	}
	outside := encoderLatency(t, rtmp)
	t.Logf("of RTMP's, the encoder, nginx and the player: %v; the rest (WebRTC, the Writer, the decoder, the composer, the output's copy): %v",
		outside.Round(time.Millisecond), (rtmpLatency - outside).Round(time.Millisecond))
	if outside <= 0 || outside > rtmpLatency+time.Second {
		t.Errorf("the encoder, nginx and the player alone: %v, more than the broadcast's %v", outside, rtmpLatency)
	}
}

// encoderLatency measures the part of a broadcast's RTMP latency that is
// not Crossbar's: raw pictures written at 30 fps to an ffmpeg encoding
// them as the broadcast's encoder does, to nginx, turn from red to blue,
// and the player, as in TestBroadcastLatency, sees them turn.
func encoderLatency(t *testing.T, rtmp *rtmptest.Server) time.Duration {
	t.Helper()
	const w, h = 640, 480
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", fmt.Sprintf("%dx%d", w, h), "-framerate", "30", "-i", "pipe:0",
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "60", "-b:v", "768000", "-maxrate", "768000", "-bufsize", "768000",
		"-f", "flv", rtmp.URL+"/baseline")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// BT.601 limited range: red is Y 81, U 90, V 240; blue 41, 240, 110.
	fill := func(y, u, v byte) []byte {
		p := append(bytes.Repeat([]byte{y}, w*h), bytes.Repeat([]byte{u}, w*h/4)...)
		return append(p, bytes.Repeat([]byte{v}, w*h/4)...)
	}
	var picture atomic.Pointer[[]byte]
	redPic, bluePic := fill(81, 90, 240), fill(41, 240, 110)
	picture.Store(&redPic)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second / 30)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if _, err := in.Write(*picture.Load()); err != nil {
					return
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = cmd.Wait() // killed
	})
	watch := watchColours(t, rtmp.URL+"/baseline", w/2, h/2, red, blue)
	watch.when(t, "red, straight from the encoder")
	turned := time.Now()
	picture.Store(&bluePic)
	return watch.when(t, "blue, straight from the encoder").Sub(turned)
}

// The cost of a 4-stream 720p broadcast: four Go publishers of a moving
// test pattern of cpuStreams (VP8 at 1.5 Mbit/s) into a bestFit broadcast
// of cpuCast to nginx. A player reads cpuCastFor of it at the full frame
// rate;
// how long it took to read (the real-time factor: 1 when the composition
// keeps up) and the CPU of the composition's ffmpeg processes and of the
// test's process (publishers, forwarding, composing) are logged. Not in
// -short runs.
func TestBroadcastCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("a measurement: 4 streams composed for 10 s, a minute on a busy machine")
	}
	mediatest.Need(t)
	rtmp := rtmptest.Start(t)
	h := newHarness(t, crossbar.Config{})
	s := h.session()
	size := func(s string) (w, h int) {
		if _, err := fmt.Sscanf(s, "%dx%d", &w, &h); err != nil {
			t.Fatal(err)
		}
		return w, h
	}
	w, ht := size(cpuStreams)
	video, audio := lavfiMedia(t, "testsrc2=s="+cpuStreams+":r=30:d=2", "-g", "60", "-b:v", "1500k")
	var frames atomic.Pointer[[][]byte]
	frames.Store(&video)
	for i := range 4 {
		name := fmt.Sprint("pattern", i)
		publishFrames(t, h.mediaClient(s, h.ws, name, nil, client.Options{}), name, w, ht, &frames, audio)
	}
	startRTMPBroadcast(t, h, s, rtmp, "cpu", crossbar.BroadcastOptions{Resolution: cpuCast})
	cpu, self, start := composerCPU(t), processCPU(t), time.Now()
	path := capture(t, rtmp.URL+"/cpu", cpuCastFor, "cpu.flv")
	wall := time.Since(start)
	used, selfUsed := composerCPU(t).since(cpu), processCPU(t)-self
	cw, ch := size(cpuCast)
	got := checkLive(t, path, cw, ch)
	cores := func(c time.Duration) string { return fmt.Sprintf("%.2f", c.Seconds()/wall.Seconds()) }
	t.Logf("4 streams of %s into %s: %v of broadcast read in %v (real-time factor %.2f); cores: decoders %s, encoder %s, output %s, the test's process %s",
		cpuStreams, cpuCast, got.Round(time.Millisecond), wall.Round(time.Millisecond), got.Seconds()/wall.Seconds(), cores(used.decoders), cores(used.encoder), cores(used.outputs), cores(selfUsed))
}

// processCPU returns the CPU time the test's process has used so far.
func processCPU(t *testing.T) time.Duration {
	t.Helper()
	_, used, ok := procStat("self")
	if !ok {
		t.Skip("no /proc/self/stat")
	}
	return used
}

// procStat returns the parent of process pid and the CPU time it used,
// from /proc; ok is false if it has none (it ended).
func procStat(pid string) (ppid string, used time.Duration, ok bool) {
	stat, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return "", 0, false
	}
	// The fields after the command's name, in parentheses: state (3),
	// ppid (4), ... utime (14), stime (15).
	_, rest, _ := strings.Cut(string(stat), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		return "", 0, false
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return f[1], time.Duration(u+s) * time.Second / 100, true // USER_HZ
}

// ffmpegCPU is CPU time used by the composition's ffmpeg processes: its
// decoders, its encoder, and its outputs' copies.
type ffmpegCPU struct{ decoders, encoder, outputs time.Duration }

func (c ffmpegCPU) total() time.Duration { return c.decoders + c.encoder + c.outputs }

// since returns the CPU time used from before to c.
func (c ffmpegCPU) since(before ffmpegCPU) ffmpegCPU {
	return ffmpegCPU{c.decoders - before.decoders, c.encoder - before.encoder, c.outputs - before.outputs}
}

// composerCPU returns the CPU time that this process's ffmpeg children
// that read a pipe (the composition's: its decoders, encoder and
// outputs) have used so far, from /proc.
func composerCPU(t *testing.T) ffmpegCPU {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc: ", err)
	}
	self := strconv.Itoa(os.Getpid())
	var cpu ffmpegCPU
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), "ffmpeg\x00") || !strings.Contains(string(cmdline), "-i\x00pipe:0\x00") {
			continue
		}
		ppid, used, ok := procStat(e.Name())
		if !ok || ppid != self {
			continue
		}
		switch {
		case strings.Contains(string(cmdline), "libx264"):
			cpu.encoder += used
		case strings.Contains(string(cmdline), "-c\x00copy"):
			cpu.outputs += used
		default:
			cpu.decoders += used
		}
	}
	return cpu
}

// lastSegment returns the number of the last segment of an HLS
// playlist, -1 if it has none.
func lastSegment(playlist string) int {
	n := -1
	for _, line := range strings.Split(playlist, "\n") {
		if v, ok := strings.CutPrefix(line, "segment"); ok {
			if k, err := strconv.Atoi(strings.TrimSuffix(v, ".ts")); err == nil {
				n = max(n, k)
			}
		}
	}
	return n
}
