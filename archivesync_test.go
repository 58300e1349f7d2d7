package crossbar_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os/exec"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/archive"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/internal/mediatest"
)

// opusSilence is a 20 ms Opus packet of silence.
var opusSilence = []byte{0xf8, 0xff, 0xfe}

// avMark is where a file's picture turns red and its tone starts (on), or
// turns blue and its tone stops.
type avMark struct {
	at time.Duration
	on bool
}

// A composed archive keeps its streams' pictures and sounds together: a
// Go publisher turns red and starts a tone, then turns blue and falls
// silent, every 1.5 s, each change of picture and sound at one instant of
// its clock; in the archive's MP4, each change of colour is within 100 ms
// of the change of sound, though the publisher's ticks come late on a busy
// machine and leave gaps in its sound.
func TestComposedArchiveSync(t *testing.T) {
	mediatest.Need(t)
	h, dir := archiveHarness(t, crossbar.Config{})
	s := h.session()
	redVideo, tone := colourMedia(t, "red", 320, 240)
	blueVideo, _ := colourMedia(t, "blue", 320, 240)
	const period = 1500 * time.Millisecond
	start := time.Now()
	n := map[webrtc.RTPCodecType]int{}
	publishSamples(t, h.mediaClient(s, h.ws, "marks", nil, client.Options{}), "marks", 320, 240, func(kind webrtc.RTPCodecType, now time.Time) []byte {
		on := now.Sub(start)/period%2 == 0
		i := n[kind]
		n[kind]++
		switch {
		case kind == webrtc.RTPCodecTypeAudio && on:
			return tone[i%len(tone)]
		case kind == webrtc.RTPCodecTypeAudio:
			return opusSilence
		case on:
			return redVideo[i%len(redVideo)]
		default:
			return blueVideo[i%len(blueVideo)]
		}
	})
	ctx := context.Background()
	a, err := h.srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{OutputMode: crossbar.OutputComposed})
	if err != nil {
		t.Fatal(err)
	}
	recordFor(t, h.srv, a.ID, 4*period+time.Second)
	if _, err := h.srv.StopArchive(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	_, path := waitComposed(t, h.srv, dir, a.ID)

	pictures, sounds := pictureMarks(t, path), soundMarks(t, path)
	t.Logf("pictures change at %v, sounds at %v", pictures, sounds)
	matched := 0
	var worst time.Duration
	for _, p := range pictures {
		var near *avMark
		for i, s := range sounds {
			if s.on == p.on && (near == nil || (s.at-p.at).Abs() < (near.at-p.at).Abs()) {
				near = &sounds[i]
			}
		}
		if near == nil {
			t.Errorf("the picture turns %v at %v, the sound never does", p.on, p.at)
			continue
		}
		d := near.at - p.at
		if d.Abs() > 100*time.Millisecond {
			t.Errorf("the picture turns %v at %v, the sound at %v: %v apart, want at most 100 ms", p.on, p.at, near.at, d)
		}
		worst = max(worst, d.Abs())
		matched++
	}
	if matched < 3 {
		t.Errorf("%d changes of picture found, want at least 3", matched)
	}
	t.Logf("%d changes: sound and picture at most %v apart", matched, worst)
}

// pictureMarks returns when the picture of a composed archive's file
// turns red (on) and blue, from its frames at archive.ComposedFrameRate.
func pictureMarks(t *testing.T, path string) []avMark {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-map", "0:v", "-vf", "scale=4:3", "-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg: the frames of %s: %v", path, err)
	}
	var marks []avMark
	state := 0 // 1 red, -1 blue, 0 neither yet
	for i := 0; (i+1)*36 <= len(out); i++ {
		px := out[i*36+3*5 : i*36+3*5+3] // the middle pixel, (1, 1)
		c := mediatest.Colour{px[0], px[1], px[2]}
		now := state
		switch {
		case c.Near(red, 60):
			now = 1
		case c.Near(blue, 60):
			now = -1
		}
		if state != 0 && now != state {
			marks = append(marks, avMark{at: time.Duration(i) * time.Second / archive.ComposedFrameRate, on: now == 1})
		}
		state = now
	}
	return marks
}

// soundMarks returns when the sound of a file starts (on) and stops, in
// 5 ms steps: each change holds for 25 ms at least.
func soundMarks(t *testing.T, path string) []avMark {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-map", "0:a", "-ac", "1", "-ar", "48000", "-f", "s16le", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg: the sound of %s: %v", path, err)
	}
	samples := make([]int16, len(out)/2)
	if err := binary.Read(bytes.NewReader(out[:2*len(samples)]), binary.LittleEndian, samples); err != nil {
		t.Fatal(err)
	}
	const step = 240 // 5 ms
	var loud []bool
	for i := 0; i+step <= len(samples); i += step {
		var sum float64
		for _, v := range samples[i : i+step] {
			sum += float64(v) * float64(v)
		}
		loud = append(loud, math.Sqrt(sum/step) > 500)
	}
	var marks []avMark
	for i := 1; i+5 <= len(loud); i++ {
		held := true
		for _, l := range loud[i : i+5] {
			held = held && l == loud[i]
		}
		if loud[i] != loud[i-1] && held && (len(marks) == 0 || marks[len(marks)-1].on != loud[i]) {
			marks = append(marks, avMark{at: time.Duration(i) * 5 * time.Millisecond, on: loud[i]})
		}
	}
	return marks
}
