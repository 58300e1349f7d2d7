package archive

import (
	"reflect"
	"testing"
)

func TestArrange(t *testing.T) {
	cam, screen, focus := Tile{}, Tile{Screen: true}, Tile{Focus: true}
	for _, c := range []struct {
		name            string
		typ, screenType string
		w, h            int
		tiles           []Tile
		want            []Rect
	}{
		{"bestFit of none", BestFit, "", 640, 480, nil, []Rect{}},
		{"bestFit of 1", BestFit, "", 640, 480, []Tile{cam}, []Rect{{0, 0, 640, 480}}},
		{"bestFit of 2", BestFit, "", 1280, 720, []Tile{cam, cam}, []Rect{{0, 0, 640, 720}, {640, 0, 640, 720}}},
		{"bestFit of 2, portrait", BestFit, "", 720, 1280, []Tile{cam, cam}, []Rect{{0, 0, 720, 640}, {0, 640, 720, 640}}},
		{"bestFit of 3: the last row centred", BestFit, "", 1280, 720, []Tile{cam, cam, cam},
			[]Rect{{0, 0, 640, 360}, {640, 0, 640, 360}, {320, 360, 640, 360}}},
		{"bestFit of 4", BestFit, "", 640, 480, []Tile{cam, cam, cam, cam},
			[]Rect{{0, 0, 320, 240}, {320, 0, 320, 240}, {0, 240, 320, 240}, {320, 240, 320, 240}}},
		{"bestFit of 5: 3 columns, 2 rows, odd sides rounded to even", BestFit, "", 640, 480, []Tile{cam, cam, cam, cam, cam},
			[]Rect{{0, 0, 212, 240}, {212, 0, 212, 240}, {426, 0, 212, 240}, {106, 240, 212, 240}, {318, 240, 212, 240}}},
		{"pip", PictureInPicture, "", 1280, 720, []Tile{cam, cam}, []Rect{{0, 0, 1280, 720}, {930, 510, 320, 180}}},
		{"pip: the focus fills", PictureInPicture, "", 1280, 720, []Tile{cam, focus}, []Rect{{930, 510, 320, 180}, {0, 0, 1280, 720}}},
		{"verticalPresentation: screen large, others in a column", VerticalPresentation, "", 1280, 720, []Tile{cam, screen, cam},
			[]Rect{{1024, 216, 256, 144}, {0, 0, 1024, 720}, {1024, 360, 256, 144}}},
		{"verticalPresentation of 1", VerticalPresentation, "", 640, 480, []Tile{cam}, []Rect{{0, 0, 640, 480}}},
		{"horizontalPresentation: focus large, others in a row", HorizontalPresentation, "", 1280, 720, []Tile{cam, cam, focus},
			[]Rect{{384, 576, 256, 144}, {640, 576, 256, 144}, {0, 0, 1280, 576}}},
		{"bestFit with screenshareType, no screen", BestFit, VerticalPresentation, 640, 480, []Tile{cam, cam},
			[]Rect{{0, 0, 320, 480}, {320, 0, 320, 480}}},
		{"bestFit with screenshareType and a screen", BestFit, HorizontalPresentation, 1280, 720, []Tile{cam, screen},
			[]Rect{{512, 576, 256, 144}, {0, 0, 1280, 576}}},
		{"focus: only the focus tiles", Focus, "", 1280, 720, []Tile{cam, focus, cam, focus},
			[]Rect{{}, {0, 0, 640, 720}, {}, {640, 0, 640, 720}}},
		{"focus without any: all", Focus, "", 640, 480, []Tile{cam}, []Rect{{0, 0, 640, 480}}},
		{"an unknown type shows nothing", "custom", "", 640, 480, []Tile{cam}, []Rect{{}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Arrange(c.typ, c.screenType, c.w, c.h, c.tiles); !reflect.DeepEqual(got, c.want) {
				t.Errorf("Arrange(%s, %q, %dx%d, %v) = %v, want %v", c.typ, c.screenType, c.w, c.h, c.tiles, got, c.want)
			}
		})
	}
}

// Every layout keeps its tiles inside the picture, at even places and
// sizes, and (but pip's small windows) apart, up to OpenTok's 16 streams;
// a 17th is not shown.
func TestArrangeInside(t *testing.T) {
	for _, typ := range []string{BestFit, PictureInPicture, VerticalPresentation, HorizontalPresentation, Focus} {
		for _, size := range [][2]int{{640, 480}, {480, 640}, {1280, 720}, {1920, 1080}} {
			for n := 1; n <= 17; n++ {
				tiles := make([]Tile, n)
				rects := Arrange(typ, "", size[0], size[1], tiles)
				for i, r := range rects {
					if i == 16 {
						if r != (Rect{}) {
							t.Errorf("%s of %d: the 17th tile is at %v", typ, n, r)
						}
						continue
					}
					if r.W <= 0 || r.H <= 0 || r.X < 0 || r.Y < 0 || r.X+r.W > size[0] || r.Y+r.H > size[1] || (r.X|r.Y|r.W|r.H)&1 != 0 {
						t.Errorf("%s of %d in %v: tile %d at %v", typ, n, size, i, r)
					}
					for j, o := range rects[:i] {
						if typ != PictureInPicture && r.X < o.X+o.W && o.X < r.X+r.W && r.Y < o.Y+o.H && o.Y < r.Y+r.H {
							t.Errorf("%s of %d in %v: tiles %d %v and %d %v overlap", typ, n, size, j, o, i, r)
						}
					}
				}
			}
		}
	}
}
