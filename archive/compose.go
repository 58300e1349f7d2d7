package archive

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// Composition is a composed recording as Compose makes it: the recorded
// streams' files, each shown (by Arrange) in a Width x Height picture
// while it lasts under the layout of the time, and all heard, for
// Duration.
type Composition struct {
	Width, Height int
	Duration      time.Duration
	Inputs        []Input
	// Layouts are the layouts in force from their At on; the first is at
	// 0.
	Layouts          []LayoutChange
	NoAudio, NoVideo bool
}

// Input is a stream's file in a Composition: a file Writer wrote, and
// when it starts and stops in the composition.
type Input struct {
	Path               string
	Start, Stop        time.Duration
	HasAudio, HasVideo bool
	Tile               Tile
	// TileChanges are the tiles it takes later (its layout classes
	// changed), each from its At on, in order.
	TileChanges []TileChange
}

// TileChange is a stream's tile in a Composition from At on.
type TileChange struct {
	At   time.Duration
	Tile Tile
}

// LayoutChange is a layout of a Composition and when it starts.
type LayoutChange struct {
	At                    time.Duration
	Type, ScreenshareType string
}

// ComposedFrameRate is the frame rate of a composed recording.
const ComposedFrameRate = 30

// Compose writes the composition c to the file out, an MP4 of H.264 video
// and AAC audio, with ffmpeg (the command ffmpeg names; empty means
// "ffmpeg" on the PATH). Streams and layouts change over time: the
// composition is cut where any does (on the frame nearest), and each piece
// draws the streams then shown, each scaled to fit its place (Arrange),
// large ones first; the audio is every stream's, mixed. A stream's gaps show its last
// frame and are silent. Its error says why ffmpeg failed.
func Compose(ctx context.Context, ffmpeg string, c Composition, out string) error {
	if ffmpeg == "" {
		ffmpeg = "ffmpeg"
	}
	script := out + ".filter"
	if err := os.WriteFile(script, []byte(c.filterGraph()), 0o644); err != nil {
		return fmt.Errorf("archive: compose: %w", err)
	}
	defer func() { _ = os.Remove(script) }() // a file left beside out is harmless
	args := []string{"-nostdin", "-v", "error", "-y"}
	for _, in := range c.Inputs {
		args = append(args, "-itsoffset", seconds(in.Start), "-i", in.Path)
	}
	args = append(args, "-filter_complex_script", script)
	if !c.NoVideo {
		args = append(args, "-map", "[v]", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
			"-pix_fmt", "yuv420p", "-r", fmt.Sprint(ComposedFrameRate), "-g", fmt.Sprint(2*ComposedFrameRate))
	}
	if !c.NoAudio {
		args = append(args, "-map", "[a]", "-c:a", "aac", "-b:a", "128k", "-ar", "48000")
	}
	args = append(args, "-t", seconds(c.Duration), "-movflags", "+faststart", out)
	b, err := exec.CommandContext(ctx, ffmpeg, args...).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(b))
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:] // ffmpeg's last word says what went wrong
		}
		return fmt.Errorf("archive: compose with %s: %w: %s", ffmpeg, err, msg)
	}
	return nil
}

// filterGraph is ffmpeg's filter graph of c: [v] the picture, [a] the
// mix of every input's audio, on silence. Each piece is drawn on black of
// its own and the pieces are concatenated: an overlay waits for its
// input's first frame, and a stream shown late in the composition would
// otherwise hold the picture up until ffmpeg had read that far.
func (c Composition) filterGraph() string {
	var g strings.Builder
	if !c.NoVideo {
		uses := map[int][]string{} // input: the labels of its pieces
		pieces := c.pieces()
		for k, p := range pieces {
			fmt.Fprintf(&g, "color=c=black:s=%dx%d:r=%d:d=%s,format=yuv420p[p%d];\n", c.Width, c.Height, ComposedFrameRate, seconds(p.end-p.start), k)
			last := fmt.Sprintf("p%d", k)
			for n, d := range p.draws {
				label := fmt.Sprintf("i%dp%d", d.input, len(uses[d.input]))
				uses[d.input] = append(uses[d.input], label)
				r := d.rect
				fmt.Fprintf(&g, "[%s]trim=start=%s:end=%s,setpts=PTS-%s/TB,scale=%d:%d:force_original_aspect_ratio=decrease,pad=%d:%d:(ow-iw)/2:(oh-ih)/2,setsar=1[%s_];\n",
					label, seconds(p.start), seconds(p.end), seconds(p.start), r.W, r.H, r.W, r.H, label)
				next := fmt.Sprintf("p%dd%d", k, n)
				fmt.Fprintf(&g, "[%s][%s_]overlay=x=%d:y=%d:eof_action=pass[%s];\n", last, label, r.X, r.Y, next)
				last = next
			}
			fmt.Fprintf(&g, "[%s]null[q%d];\n", last, k)
		}
		// Each input at the composition's frame rate, its gaps filled
		// with its last frame, and so to its Stop: a stream's picture
		// stays until it leaves.
		for i, in := range c.Inputs {
			if labels := uses[i]; len(labels) > 0 {
				fmt.Fprintf(&g, "[%d:v]fps=%d,tpad=stop_mode=clone:stop_duration=%s,split=%d[%s];\n",
					i, ComposedFrameRate, seconds(in.Stop-in.Start), len(labels), strings.Join(labels, "]["))
			}
		}
		for k := range pieces {
			fmt.Fprintf(&g, "[q%d]", k)
		}
		fmt.Fprintf(&g, "concat=n=%d:v=1:a=0[v]", len(pieces))
	}
	if !c.NoAudio {
		if !c.NoVideo {
			g.WriteString(";\n")
		}
		fmt.Fprintf(&g, "anullsrc=r=48000:cl=stereo:d=%s[s]", seconds(c.Duration))
		mix := "[s]"
		// Each input's sound at its timestamps, from the composition's
		// start: a gap of a packet or more (loss, a stall of its
		// publisher) is filled with silence, or what follows would be
		// heard early, out of step with its picture.
		for i, in := range c.Inputs {
			if in.HasAudio {
				fmt.Fprintf(&g, ";\n[%d:a]aresample=async=1:min_hard_comp=0.02:first_pts=0[a%d]", i, i)
				mix += fmt.Sprintf("[a%d]", i)
			}
		}
		fmt.Fprintf(&g, ";\n%samix=inputs=%d:duration=first:normalize=0[a]", mix, strings.Count(mix, "["))
	}
	return g.String()
}

// piece is a stretch of a composition in which its streams and layout do
// not change, and what it draws.
type piece struct {
	start, end time.Duration
	draws      []draw
}

// draw is an input drawn in a piece, at rect.
type draw struct {
	input int
	rect  Rect
}

// pieces cuts the composition where a stream starts, stops or changes
// its tile, or the layout changes, and arranges each piece's streams, large ones first so
// that small ones (pip's) are drawn over them.
func (c Composition) pieces() []piece {
	cuts := []time.Duration{0, c.Duration}
	for _, in := range c.Inputs {
		if in.HasVideo {
			cuts = append(cuts, in.Start, in.Stop)
			for _, ch := range in.TileChanges {
				cuts = append(cuts, ch.At)
			}
		}
	}
	for _, l := range c.Layouts {
		cuts = append(cuts, l.At)
	}
	for i, t := range cuts {
		cuts[i] = c.frame(t)
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	if len(cuts) < 2 { // shorter than a frame
		cuts = []time.Duration{0, c.Duration}
	}
	var list []piece
	for k := 1; k < len(cuts); k++ {
		p := piece{start: cuts[k-1], end: cuts[k]}
		var layout LayoutChange
		for _, l := range c.Layouts {
			if c.frame(l.At) <= p.start {
				layout = l
			}
		}
		var shown []int
		var tiles []Tile
		for i, in := range c.Inputs {
			if in.HasVideo && c.frame(in.Start) <= p.start && c.frame(in.Stop) >= p.end {
				shown = append(shown, i)
				tiles = append(tiles, c.tile(in, p.start))
			}
		}
		for k, r := range Arrange(layout.Type, layout.ScreenshareType, c.Width, c.Height, tiles) {
			if r != (Rect{}) {
				p.draws = append(p.draws, draw{input: shown[k], rect: r})
			}
		}
		slices.SortStableFunc(p.draws, func(a, b draw) int { return cmp.Compare(b.rect.W*b.rect.H, a.rect.W*a.rect.H) })
		list = append(list, p)
	}
	return list
}

// tile is an input's tile at t: its last change's by then.
func (c Composition) tile(in Input, t time.Duration) Tile {
	tile := in.Tile
	for _, ch := range in.TileChanges {
		if c.frame(ch.At) <= t {
			tile = ch.Tile
		}
	}
	return tile
}

// frame rounds t, within the composition, to a frame's time: the picture
// changes on a frame.
func (c Composition) frame(t time.Duration) time.Duration {
	return min(max(t, 0), c.Duration).Round(time.Second / ComposedFrameRate)
}

// seconds formats d for ffmpeg.
func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }
