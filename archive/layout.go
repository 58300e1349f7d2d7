package archive

// Layout types of a composition, as OpenTok names them. Custom (a
// stylesheet) is not arranged here.
const (
	BestFit                = "bestFit"
	PictureInPicture       = "pip"
	VerticalPresentation   = "verticalPresentation"
	HorizontalPresentation = "horizontalPresentation"
	Focus                  = "focus"
)

// Rect is a tile's place in a composed picture, in pixels from its top
// left corner; its sides are even, as 4:2:0 video needs. The zero Rect
// is a tile that is not shown.
type Rect struct{ X, Y, W, H int }

// Tile is a stream shown in a composition.
type Tile struct {
	Screen bool // its video is a shared screen
	Focus  bool // it has the layout class "focus"
}

// Arrange returns where each of tiles (in the order they joined) goes in
// a w x h picture under the layout typ, as OpenTok's predefined layouts
// place them:
//
//   - bestFit: a grid, 1, 2 side by side (one above the other in a
//     portrait picture), 2x2, 3x3 or 4x4 cells, the last row centred;
//   - pip: the focus tile fills the picture, the others are small windows
//     (a quarter of its sides, smaller when they would not fit) in rows
//     from its bottom right corner;
//   - verticalPresentation: the focus tile fills the picture but a column
//     on its right (a fifth of its width) where the others are stacked;
//   - horizontalPresentation: the focus tile fills the picture but a row
//     at its bottom (a fifth of its height) where the others are lined up;
//   - focus: the tiles of class focus (all if none has it) in a bestFit
//     grid, the others not shown.
//
// The focus tile is the first of class focus, else the first screen, else
// the first. With bestFit and a screenshareType, a picture with a shared
// screen takes the screenshareType layout, the screen as its focus.
// Tiles beyond 16, and all of an unknown layout, are not shown.
func Arrange(typ, screenshareType string, w, h int, tiles []Tile) []Rect {
	rects := make([]Rect, len(tiles))
	n := min(len(tiles), 16)
	if n == 0 {
		return rects
	}
	tiles = tiles[:n]
	focus := focusTile(tiles)
	if screen := screenTile(tiles); typ == BestFit && screenshareType != "" && screen >= 0 {
		typ, focus = screenshareType, screen
	}
	switch typ {
	case BestFit:
		grid(rects[:n], Rect{W: w, H: h})
	case Focus:
		var shown []int
		for i, t := range tiles {
			if t.Focus {
				shown = append(shown, i)
			}
		}
		if len(shown) == 0 {
			grid(rects[:n], Rect{W: w, H: h})
			break
		}
		cells := make([]Rect, len(shown))
		grid(cells, Rect{W: w, H: h})
		for k, i := range shown {
			rects[i] = cells[k]
		}
	case PictureInPicture:
		rects[focus] = Rect{W: even(w), H: even(h)}
		margin := even(h / 24)
		sw, sh, perRow := 0, 0, 0
		for scale := 4; ; scale++ { // smaller windows while they do not fit
			sw, sh = even(w/scale), even(h/scale)
			perRow = (w - margin) / (sw + margin)
			if perRow*((h-margin)/(sh+margin)) >= n-1 {
				break
			}
		}
		k := 0
		for i := range n {
			if i != focus {
				col, row := k%perRow, k/perRow
				rects[i] = Rect{X: even(w - (col+1)*(sw+margin)), Y: even(h - (row+1)*(sh+margin)), W: sw, H: sh}
				k++
			}
		}
	case VerticalPresentation:
		if n == 1 {
			rects[0] = Rect{W: even(w), H: even(h)}
			break
		}
		side := w / 5
		rects[focus] = Rect{W: even(w - side), H: even(h)}
		// Each other tile has the picture's shape, at most.
		line(rects[:n], focus, Rect{X: w - side, W: side, H: h}, side, min(h/(n-1), side*h/w), false)
	case HorizontalPresentation:
		if n == 1 {
			rects[0] = Rect{W: even(w), H: even(h)}
			break
		}
		side := h / 5
		rects[focus] = Rect{W: even(w), H: even(h - side)}
		line(rects[:n], focus, Rect{Y: h - side, W: w, H: side}, min(w/(n-1), side*w/h), side, true)
	default:
		clear(rects)
	}
	return rects
}

// line puts every tile but focus in area, in a row (across) or a column,
// each tw x th, centred along it.
func line(rects []Rect, focus int, area Rect, tw, th int, across bool) {
	others := len(rects) - 1
	x, y := area.X, area.Y
	if across {
		x += (area.W - others*tw) / 2
	} else {
		y += (area.H - others*th) / 2
	}
	for i := range rects {
		if i == focus {
			continue
		}
		rects[i] = Rect{X: even(x), Y: even(y), W: even(tw), H: even(th)}
		if across {
			x += tw
		} else {
			y += th
		}
	}
}

// grid fills cells, in order, with a grid of area: 1 cell, 2 side by
// side (stacked in a portrait area), then 2, 3 or 4 columns of as many
// rows as they need; the last row is centred.
func grid(cells []Rect, area Rect) {
	n := len(cells)
	cols := 1
	for cols*cols < n {
		cols++
	}
	rows := (n + cols - 1) / cols
	if n == 2 && area.H > area.W {
		cols, rows = 1, 2
	}
	cw, ch := area.W/cols, area.H/rows
	for i := range cells {
		row, col := i/cols, i%cols
		x := area.X + col*cw
		if last := n - row*cols; last < cols { // the last row, not full
			x += (cols - last) * cw / 2
		}
		cells[i] = Rect{X: even(x), Y: even(area.Y + row*ch), W: even(cw), H: even(ch)}
	}
}

// focusTile is the index of the tile a presentation layout shows large.
func focusTile(tiles []Tile) int {
	for i, t := range tiles {
		if t.Focus {
			return i
		}
	}
	return max(screenTile(tiles), 0)
}

// screenTile is the index of the first shared screen, or -1.
func screenTile(tiles []Tile) int {
	for i, t := range tiles {
		if t.Screen {
			return i
		}
	}
	return -1
}

// even rounds v down to an even number.
func even(v int) int { return v &^ 1 }
