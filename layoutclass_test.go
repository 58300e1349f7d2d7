package crossbar_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/internal/mediatest"
)

// A stream given the layout class focus after it joined the composition
// of a composed archive and of a broadcast, both horizontalPresentation,
// becomes their large tile: red came first and was large, blue was in
// the row below; once blue is of class focus, they swap, in the HLS
// stream a player reads live and in the archive's MP4.
func TestLayoutClassMovesComposedStream(t *testing.T) {
	mediatest.Need(t)
	h, dir := archiveHarness(t, crossbar.Config{})
	s := h.session()
	publishSwitchable(t, h, s, "red")
	ctx := context.Background()
	layout := crossbar.ArchiveLayout{Type: "horizontalPresentation"}
	a, err := h.srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{OutputMode: crossbar.OutputComposed, Layout: layout})
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.srv.StartBroadcast(ctx, s.ID(), crossbar.BroadcastOptions{Layout: layout,
		Outputs: crossbar.BroadcastOutputs{HLS: &crossbar.HLSOptions{LowLatency: true}}})
	if err != nil {
		t.Fatal(err)
	}
	base := "http" + strings.TrimSuffix(strings.TrimPrefix(h.ws, "ws"), "ws")
	waitFor(t, 30*time.Second, "the HLS playlist's third segment", func() bool {
		return strings.Count(get(t, base+b.HLSURL), ".ts") >= 3
	})
	// The middle of the row below the large tile (640x384): red fills
	// the picture alone, then blue is there, then red again.
	small := watchColours(t, base+b.HLSURL, 320, 432, blue, red)
	publishSwitchable(t, h, s, "blue")
	var blueID string
	for _, st := range s.Streams() {
		if st.Name() == "blue" {
			blueID = st.ID()
		}
	}
	small.when(t, "blue below red, live")
	recordFor(t, h.srv, a.ID, 3*time.Second) // blue in the archive too
	joined, _ := h.srv.Archive(ctx, a.ID)
	recordFor(t, h.srv, a.ID, joined.Duration+2*time.Second)

	changedAt := time.Now()
	if err := s.SetLayoutClassLists(map[string][]string{blueID: {"focus"}}); err != nil {
		t.Fatal(err)
	}
	changed, _ := h.srv.Archive(ctx, a.ID)
	if at := small.when(t, "red below blue, live"); at.Before(changedAt) {
		t.Fatalf("red went below blue %v before its layout class changed", changedAt.Sub(at))
	}
	recordFor(t, h.srv, a.ID, changed.Duration+3*time.Second)
	if _, err := h.srv.StopBroadcast(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.srv.StopArchive(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	_, path := waitComposed(t, h.srv, dir, a.ID)
	large, below := [2]int{316, 188}, [2]int{316, 428}
	for _, c := range []struct {
		at           time.Duration
		large, below mediatest.Colour
	}{
		{changed.Duration - time.Second, red, blue},
		{changed.Duration + 2*time.Second, blue, red},
	} {
		got := mediatest.Colours(t, path, 640, c.at, large, below)
		if !got[0].Near(c.large, 40) || !got[1].Near(c.below, 40) {
			t.Errorf("at %v of the archive, the large tile is %v and the one below %v, want %v and %v", c.at, got[0], got[1], c.large, c.below)
		}
	}
}
