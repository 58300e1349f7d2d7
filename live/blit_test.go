package live

import (
	"testing"

	"github.com/crossbar-rtc/crossbar/archive"
)

// picture returns a yuv420p picture of w x h whose Y, U and V are y, u
// and v.
func picture(w, h int, y, u, v byte) []byte {
	p := make([]byte, w*h*3/2)
	for i := range p {
		switch {
		case i < w*h:
			p[i] = y
		case i < w*h*5/4:
			p[i] = u
		default:
			p[i] = v
		}
	}
	return p
}

// A picture drawn at its size, and scaled to another, fills its
// rectangle of each plane and nothing else.
func TestBlit(t *testing.T) {
	const w, h = 64, 48
	for _, r := range []archive.Rect{{X: 8, Y: 4, W: 16, H: 12}, {X: 32, Y: 10, W: 30, H: 36}, {X: 0, Y: 0, W: 8, H: 6}} {
		dst := picture(w, h, 16, 128, 128)
		blit(dst, w, h, r, picture(16, 12, 200, 10, 250), 16, 12)
		for p, plane := range [][]byte{dst[:w*h], dst[w*h : w*h*5/4], dst[w*h*5/4:]} {
			div, in, out := 1, []byte{200, 10, 250}[p], []byte{16, 128, 128}[p]
			if p > 0 {
				div = 2
			}
			pw := w / div
			for i, got := range plane {
				x, y := i%pw, i/pw
				inside := x >= r.X/div && x < (r.X+r.W)/div && y >= r.Y/div && y < (r.Y+r.H)/div
				if want := map[bool]byte{true: in, false: out}[inside]; got != want {
					t.Fatalf("rect %+v, plane %d, (%d, %d): %d, want %d", r, p, x, y, got, want)
				}
			}
		}
	}
}

// Drawing a 640x360 tile into a 1280x720 picture: at its size (a copy of
// rows), and scaled from 320x180.
func BenchmarkBlit(b *testing.B) {
	const w, h = 1280, 720
	dst := picture(w, h, 16, 128, 128)
	r := archive.Rect{X: 640, Y: 360, W: 640, H: 360}
	for _, size := range [][2]int{{640, 360}, {320, 180}} {
		src := picture(size[0], size[1], 200, 10, 250)
		b.Run(map[bool]string{true: "copy", false: "scaled"}[size[0] == r.W], func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(r.W * r.H * 3 / 2))
			for b.Loop() {
				blit(dst, w, h, r, src, size[0], size[1])
			}
		})
	}
}

// fit keeps a picture's shape in its tile, centred, with even sides.
func TestFit(t *testing.T) {
	for _, c := range []struct {
		r    archive.Rect
		w, h int
		want archive.Rect
	}{
		{archive.Rect{W: 640, H: 480}, 320, 240, archive.Rect{W: 640, H: 480}},
		{archive.Rect{W: 320, H: 480}, 320, 240, archive.Rect{Y: 120, W: 320, H: 240}},
		{archive.Rect{X: 640, W: 640, H: 720}, 1280, 720, archive.Rect{X: 640, Y: 180, W: 640, H: 360}},
		{archive.Rect{W: 1280, H: 720}, 480, 640, archive.Rect{X: 370, W: 540, H: 720}},
	} {
		if got := fit(c.r, c.w, c.h); got != c.want {
			t.Errorf("fit(%+v, %d, %d) = %+v, want %+v", c.r, c.w, c.h, got, c.want)
		}
	}
}
