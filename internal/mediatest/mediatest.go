// Package mediatest reads media files and streams back in tests, with
// Debian's ffmpeg and ffprobe: their streams, their duration, the colour
// of their pictures.
package mediatest

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Need skips the test when ffmpeg or ffprobe is not installed.
func Need(t testing.TB) {
	t.Helper()
	for _, cmd := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(cmd); err != nil {
			t.Skipf("%s is not installed (apt-get install ffmpeg)", cmd)
		}
	}
}

// Stream is a stream of a media file as ffprobe sees it.
type Stream struct {
	Codec         string // codec_name: h264, aac...
	Width, Height int
	Frames        int // decoded frames (video) or packets (audio)
}

// Probe returns the streams of the file (or URL) src and its duration.
func Probe(t testing.TB, src string) ([]Stream, time.Duration) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_entries",
		"stream=codec_name,width,height,nb_read_frames:format=duration", "-of", "json", src).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", src, err)
	}
	var probe struct {
		Streams []struct {
			CodecName     string `json:"codec_name"`
			Width, Height int
			NbReadFrames  string `json:"nb_read_frames"`
		}
		Format struct{ Duration string }
	}
	if err := json.Unmarshal(out, &probe); err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", src, err, out)
	}
	var streams []Stream
	for _, s := range probe.Streams {
		n, _ := strconv.Atoi(s.NbReadFrames)
		streams = append(streams, Stream{Codec: s.CodecName, Width: s.Width, Height: s.Height, Frames: n})
	}
	sec, _ := strconv.ParseFloat(probe.Format.Duration, 64)
	return streams, time.Duration(sec * float64(time.Second))
}

// Colour is a pixel's red, green and blue.
type Colour [3]uint8

// String implements fmt.Stringer.
func (c Colour) String() string { return fmt.Sprintf("rgb(%d,%d,%d)", c[0], c[1], c[2]) }

// Near reports whether c is within d of o in each of red, green and blue.
func (c Colour) Near(o Colour, d int) bool {
	for i := range c {
		if diff := int(c[i]) - int(o[i]); diff < -d || diff > d {
			return false
		}
	}
	return true
}

// Colours returns the colour of the picture, w pixels wide, of the video
// file src at time at, at each of points (x, y pairs), each the average of
// the 8x8 pixels from there.
func Colours(t testing.TB, src string, w int, at time.Duration, points ...[2]int) []Colour {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-ss", fmt.Sprintf("%.3f", at.Seconds()), "-i", src,
		"-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg: a frame of %s at %v: %v", src, at, err)
	}
	var cs []Colour
	for _, p := range points {
		var sum [3]int
		for y := p[1]; y < p[1]+8; y++ {
			for x := p[0]; x < p[0]+8; x++ {
				i := 3 * (y*w + x)
				if i+3 > len(out) {
					t.Fatalf("%s: point %v is outside its %d-pixel-wide picture", src, p, w)
				}
				for k := range sum {
					sum[k] += int(out[i+k])
				}
			}
		}
		cs = append(cs, Colour{uint8(sum[0] / 64), uint8(sum[1] / 64), uint8(sum[2] / 64)})
	}
	return cs
}

// Loudness returns the mean volume of the audio of src, in dB (0 is full
// scale; silence is about -91).
func Loudness(t testing.TB, src string) float64 {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostats", "-i", src, "-vn", "-af", "volumedetect", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg volumedetect %s: %v\n%s", src, err, out)
	}
	_, after, ok := strings.Cut(string(out), "mean_volume: ")
	db, _, _ := strings.Cut(after, " dB")
	v, err := strconv.ParseFloat(db, 64)
	if !ok || err != nil {
		t.Fatalf("ffmpeg volumedetect %s: no mean volume in\n%s", src, out)
	}
	return v
}
