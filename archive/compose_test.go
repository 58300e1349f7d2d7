package archive

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar/internal/mediatest"
)

var (
	red   = mediatest.Colour{255, 0, 0}
	blue  = mediatest.Colour{0, 0, 255}
	black = mediatest.Colour{}
)

// colourFile makes a WebM file of d of VP8 video in one colour and, with
// audio, a tone in Opus.
func colourFile(t *testing.T, colour string, d time.Duration, audio bool) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), colour+".webm")
	args := []string{"-v", "error", "-f", "lavfi", "-i", fmt.Sprintf("color=%s:s=320x240:r=30:d=%s", colour, seconds(d))}
	if audio {
		args = append(args, "-f", "lavfi", "-i", "sine=f=440:d="+seconds(d), "-c:a", "libopus")
	}
	args = append(args, "-c:v", "libvpx", path)
	if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	return path
}

// Compose draws each stream where Arrange puts it while it lasts and the
// layout of the time says, and mixes their audio: a red stream from 1 s
// to 5.5 s (its file ends at 5 s: its last frame stays), a blue one from
// 2.5 s to 5.5 s, bestFit then, from 3 s, pip with blue as the focus.
func TestCompose(t *testing.T) {
	mediatest.Need(t)
	c := Composition{
		Width: 640, Height: 480, Duration: 6 * time.Second,
		Inputs: []Input{
			{Path: colourFile(t, "red", 4*time.Second, true), Start: time.Second, Stop: 5500 * time.Millisecond, HasAudio: true, HasVideo: true},
			{Path: colourFile(t, "blue", 3*time.Second, false), Start: 2500 * time.Millisecond, Stop: 5500 * time.Millisecond, HasVideo: true, Tile: Tile{Focus: true}},
		},
		Layouts: []LayoutChange{{Type: BestFit}, {At: 3 * time.Second, Type: PictureInPicture}},
	}
	out := filepath.Join(t.TempDir(), "out.mp4")
	if err := Compose(context.Background(), "", c, out); err != nil {
		t.Fatal(err)
	}
	streams, d := mediatest.Probe(t, out)
	if len(streams) != 2 || streams[0].Codec != "h264" || streams[0].Width != 640 || streams[0].Height != 480 || streams[1].Codec != "aac" {
		t.Fatalf("streams %+v, want 640x480 H.264 and AAC", streams)
	}
	if d < c.Duration-100*time.Millisecond || d > c.Duration+100*time.Millisecond {
		t.Errorf("duration %v, want %v", d, c.Duration)
	}
	if want := int(c.Duration.Seconds() * ComposedFrameRate); streams[0].Frames < want-2 {
		t.Errorf("%d frames, want %d", streams[0].Frames, want)
	}
	// Where red's and blue's tiles are, and pip's small window.
	left, right, corner := [2]int{60, 236}, [2]int{476, 236}, [2]int{540, 400}
	for _, c := range []struct {
		at   time.Duration
		want [3]mediatest.Colour
	}{
		{500 * time.Millisecond, [3]mediatest.Colour{black, black, black}},
		{1500 * time.Millisecond, [3]mediatest.Colour{red, red, red}},    // red alone fills the picture
		{2700 * time.Millisecond, [3]mediatest.Colour{red, blue, black}}, // side by side, letterboxed
		{4 * time.Second, [3]mediatest.Colour{blue, blue, red}},          // pip: blue fills, red in the corner
		{5200 * time.Millisecond, [3]mediatest.Colour{blue, blue, red}},
		{5800 * time.Millisecond, [3]mediatest.Colour{black, black, black}},
	} {
		got := mediatest.Colours(t, out, 640, c.at, left, right, corner)
		for i, g := range got {
			if !g.Near(c.want[i], 40) {
				t.Errorf("at %v, point %d is %v, want %v", c.at, i, g, c.want[i])
			}
		}
	}
}

// A failing ffmpeg's error says what it said.
func TestComposeFails(t *testing.T) {
	mediatest.Need(t)
	c := Composition{Width: 640, Height: 480, Duration: time.Second, Inputs: []Input{{Path: filepath.Join(t.TempDir(), "missing.webm"), Stop: time.Second, HasVideo: true}}, Layouts: []LayoutChange{{Type: BestFit}}}
	err := Compose(context.Background(), "", c, filepath.Join(t.TempDir(), "out.mp4"))
	if err == nil || !strings.Contains(err.Error(), "missing.webm") {
		t.Fatalf("Compose of a missing file: %v", err)
	}
	if err := Compose(context.Background(), "/nonexistent/ffmpeg", c, filepath.Join(t.TempDir(), "out.mp4")); err == nil {
		t.Fatal("Compose with a missing ffmpeg: no error")
	}
}

// A stream whose tile changes (it takes the layout class focus) is
// arranged by its new tile from the change on: the composition is cut
// there, and in horizontalPresentation it is the large one after.
func TestComposeTileChanges(t *testing.T) {
	c := Composition{
		Width: 640, Height: 480, Duration: 4 * time.Second,
		Inputs: []Input{
			{Stop: 4 * time.Second, HasVideo: true},
			{Stop: 4 * time.Second, HasVideo: true, TileChanges: []TileChange{{At: 2 * time.Second, Tile: Tile{Focus: true}}}},
		},
		Layouts: []LayoutChange{{Type: HorizontalPresentation}},
	}
	pieces := c.pieces()
	if len(pieces) != 2 || pieces[1].start != c.frame(2*time.Second) {
		t.Fatalf("pieces %+v, want two, cut at 2 s", pieces)
	}
	large := Rect{W: 640, H: 384}
	for i, p := range pieces {
		if len(p.draws) != 2 || p.draws[0].input != i || p.draws[0].rect != large {
			t.Errorf("piece %d draws %+v, want input %d at %+v first", i, p.draws, i, large)
		}
	}
}
