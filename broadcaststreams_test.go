package crossbar_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/internal/mediatest"
	"github.com/crossbar-rtc/crossbar/internal/rtmptest"
)

// The picture of a broadcast, read back from nginx as a player reads it,
// follows the session: red alone fills it; blue, joining, takes the right
// half; pip (SetBroadcastLayout) makes red fill it again and puts blue in
// its bottom right corner; blue, leaving, leaves the corner to red.
func TestBroadcastPictureFollowsStreamsAndLayout(t *testing.T) {
	mediatest.Need(t)
	rtmp := rtmptest.Start(t)
	h := newHarness(t, crossbar.Config{})
	s := h.session()
	publishColour(t, h.mediaClient(s, h.ws, "red", nil, client.Options{}), "red", 320, 240)
	b := startRTMPBroadcast(t, h, s, rtmp, "follows", crossbar.BroadcastOptions{})

	// bestFit: each 320x240 stream fills its 320x480 half's width. pip: a
	// window of 160x120, 20 from the corner.
	left, right, corner := [2]int{156, 236}, [2]int{476, 236}, [2]int{540, 400}
	watch := watchSpots(t, rtmp.URL+"/follows",
		spot{right[0], right[1], red},
		spot{right[0], right[1], blue}, spot{left[0], left[1], red},
		spot{right[0], right[1], red}, spot{corner[0], corner[1], blue},
		spot{corner[0], corner[1], red})
	watch.when(t, "red alone filling the picture")
	bluePub := publishColour(t, h.mediaClient(s, h.ws, "blue", nil, client.Options{}), "blue", 320, 240)
	joined := time.Now()
	watch.when(t, "blue joining on the right")
	watch.when(t, "red staying on the left")
	t.Logf("blue was in the picture %v after it was published", time.Since(joined).Round(time.Millisecond))

	ctx := context.Background()
	if err := h.srv.SetBroadcastLayout(ctx, b.ID, crossbar.ArchiveLayout{Type: "pip"}); err != nil {
		t.Fatal(err)
	}
	watch.when(t, "red filling the picture in pip")
	watch.when(t, "blue in pip's corner")
	if b, err := h.srv.Broadcast(ctx, b.ID); err != nil || b.Layout.Type != "pip" {
		t.Errorf("the broadcast's layout: %+v, %v", b.Layout, err)
	}
	if err := bluePub.Unpublish(ctx); err != nil {
		t.Fatal(err)
	}
	watch.when(t, "blue leaving pip's corner")
}

// A broadcast of manual stream mode has the streams the host adds, with
// the media asked for, and not those it removes: a stream added with
// sound alone has no tile; added again with video, it takes the right
// half; removed, it leaves the picture, until it is black.
func TestBroadcastManualStreams(t *testing.T) {
	mediatest.Need(t)
	rtmp := rtmptest.Start(t)
	h := newHarness(t, crossbar.Config{})
	s := h.session()
	redID := publishColour(t, h.mediaClient(s, h.ws, "red", nil, client.Options{}), "red", 320, 240).StreamID()
	blueID := publishColour(t, h.mediaClient(s, h.ws, "blue", nil, client.Options{}), "blue", 320, 240).StreamID()
	b := startRTMPBroadcast(t, h, s, rtmp, "manual", crossbar.BroadcastOptions{StreamMode: crossbar.StreamModeManual})
	ctx := context.Background()
	streams := func(want ...crossbar.ArchiveStream) {
		t.Helper()
		got, err := h.srv.Broadcast(ctx, b.ID)
		slices.SortFunc(want, func(x, y crossbar.ArchiveStream) int { return strings.Compare(x.StreamID, y.StreamID) })
		if err != nil || !slices.Equal(got.Streams, want) {
			t.Errorf("the broadcast's streams: %+v, %v, want %+v", got.Streams, err, want)
		}
	}
	if b.StreamMode != crossbar.StreamModeManual {
		t.Fatalf("started: %+v", b)
	}
	streams()
	for _, c := range []struct {
		st   crossbar.ArchiveStream
		want error
	}{
		{crossbar.ArchiveStream{StreamID: "nope", HasVideo: true}, crossbar.ErrStreamNotFound},
		{crossbar.ArchiveStream{StreamID: redID}, crossbar.ErrInvalidOption},
	} {
		if err := h.srv.AddBroadcastStream(ctx, b.ID, c.st); !errors.Is(err, c.want) {
			t.Errorf("AddBroadcastStream %+v: %v, want %v", c.st, err, c.want)
		}
	}
	if err := h.srv.RemoveBroadcastStream(ctx, b.ID, redID); !errors.Is(err, crossbar.ErrStreamNotFound) {
		t.Errorf("removing a stream not added: %v", err)
	}

	left, right := [2]int{156, 236}, [2]int{476, 236}
	watch := watchSpots(t, rtmp.URL+"/manual",
		spot{right[0], right[1], red},
		spot{right[0], right[1], blue}, spot{left[0], left[1], red},
		spot{left[0], left[1], blue},
		spot{right[0], right[1], black})
	add := func(st crossbar.ArchiveStream) {
		t.Helper()
		if err := h.srv.AddBroadcastStream(ctx, b.ID, st); err != nil {
			t.Fatal(err)
		}
	}
	remove := func(id string) {
		t.Helper()
		if err := h.srv.RemoveBroadcastStream(ctx, b.ID, id); err != nil {
			t.Fatal(err)
		}
	}
	add(crossbar.ArchiveStream{StreamID: blueID, HasAudio: true})
	add(crossbar.ArchiveStream{StreamID: redID, HasAudio: true, HasVideo: true})
	watch.when(t, "red filling the picture, blue's sound having no tile")
	streams(crossbar.ArchiveStream{StreamID: blueID, HasAudio: true}, crossbar.ArchiveStream{StreamID: redID, HasAudio: true, HasVideo: true})
	add(crossbar.ArchiveStream{StreamID: blueID, HasVideo: true})
	watch.when(t, "blue, added with video, on the right")
	watch.when(t, "red on the left")
	streams(crossbar.ArchiveStream{StreamID: blueID, HasVideo: true}, crossbar.ArchiveStream{StreamID: redID, HasAudio: true, HasVideo: true})
	remove(redID)
	watch.when(t, "blue alone filling the picture")
	remove(blueID)
	watch.when(t, "a black picture")
	streams()

	if _, err := h.srv.StopBroadcast(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.AddBroadcastStream(ctx, b.ID, crossbar.ArchiveStream{StreamID: redID, HasVideo: true}); !errors.Is(err, crossbar.ErrBroadcastConflict) {
		t.Errorf("adding a stream to a stopped broadcast: %v", err)
	}
}
