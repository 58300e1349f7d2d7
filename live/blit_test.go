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

// A picture drawn at its size, and scaled to another (enlarged, shrunk,
// or shrunk one way and enlarged the other), fills its rectangle of each
// plane and nothing else.
func TestBlit(t *testing.T) {
	const w, h = 64, 48
	for _, r := range []archive.Rect{{X: 8, Y: 4, W: 16, H: 12}, {X: 32, Y: 10, W: 30, H: 36}, {X: 0, Y: 0, W: 8, H: 6}, {X: 2, Y: 30, W: 10, H: 8}, {X: 40, Y: 2, W: 20, H: 8}} {
		dst := picture(w, h, 16, 128, 128)
		blit(dst, w, h, r, picture(16, 12, 200, 10, 250), 16, 12, make([]uint32, 16))
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
// rows), enlarged from 320x180, halved from 1280x720 and shrunk from
// 960x540.
func BenchmarkBlit(b *testing.B) {
	const w, h = 1280, 720
	dst := picture(w, h, 16, 128, 128)
	r := archive.Rect{X: 640, Y: 360, W: 640, H: 360}
	sums := make([]uint32, w)
	for _, c := range []struct {
		name   string
		sw, sh int
	}{{"copy", 640, 360}, {"enlarged", 320, 180}, {"halved", 1280, 720}, {"shrunk", 960, 540}} {
		src := picture(c.sw, c.sh, 200, 10, 250)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(r.W * r.H * 3 / 2))
			for b.Loop() {
				blit(dst, w, h, r, src, c.sw, c.sh, sums)
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

// Shrunk, a picture of 1-pixel stripes is their mean, not one of them
// (nearest neighbour's aliasing); enlarged, a step between two values
// passes through values between them, not at once (blocks).
func TestBlitFilters(t *testing.T) {
	const w, h = 8, 4
	stripes := picture(16, 8, 0, 128, 128)
	for i := range 16 * 8 {
		if i%2 == 1 {
			stripes[i] = 200
		}
	}
	dst := picture(w, h, 16, 128, 128)
	blit(dst, w, h, archive.Rect{W: 8, H: 4}, stripes, 16, 8, make([]uint32, 16))
	for i, v := range dst[:w*h] {
		if v != 100 {
			t.Fatalf("stripes of 0 and 200 shrunk by 2: pixel %d is %d, want 100", i, v)
		}
	}

	step := picture(2, 2, 0, 128, 128)
	step[1], step[3] = 200, 200 // the right column
	dst = picture(w, h, 16, 128, 128)
	blit(dst, w, h, archive.Rect{W: 8, H: 4}, step, 2, 2, nil)
	row := dst[:w]
	for x := 1; x < w; x++ {
		if row[x] < row[x-1] {
			t.Fatalf("a step enlarged by 4: %v, want it rising", row)
		}
	}
	if row[0] != 0 || row[w-1] != 200 || row[3] == 0 || row[3] == 200 || row[4] == 0 || row[4] == 200 {
		t.Errorf("a step of 0 to 200 enlarged by 4: %v, want 0 at the left, 200 at the right, between in the middle", row)
	}
}
