package main

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/crossbar-rtc/crossbar/examples/internal/apptest"
	"github.com/crossbar-rtc/crossbar/internal/browsertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(browsertest.Main(m))
}

const (
	dateVideo = "#grid .OT_subscriber:not(.OT_loading) video.OT_video-element"
	wait      = 20 * time.Second
)

// watching returns the id of the one stream a page subscribes to, and fails
// the test if it has more than one subscriber.
func watching(t *testing.T, p *browsertest.Page) string {
	t.Helper()
	p.WaitVideos(dateVideo, 1, wait)
	var ids []string
	p.Eval(`OT.subscribers.map((s) => s.stream.streamId)`, &ids)
	if len(ids) != 1 {
		t.Fatalf("page subscribes to %v, want exactly one stream", ids)
	}
	return ids[0]
}

func TestOneDateAtATimeSwitchingOnCommand(t *testing.T) {
	url, a := apptest.Serve(t, handler)
	b := browsertest.New(t)
	var pages []*browsertest.Page
	streams := map[string]int{} // stream id -> page index
	for i := range 3 {
		p := b.Open(t, fmt.Sprintf("P%d", i+1), fmt.Sprintf("%s/?room=dates&name=P%d", url, i+1))
		p.WaitVideos("#grid .OT_publisher video", 1, wait)
		var id string
		p.Eval(`new Promise((resolve) => { const p = OT.publishers.find();
			p.stream ? resolve(p.stream.streamId) : p.on('streamCreated', (e) => resolve(e.stream.streamId)); })`, &id)
		streams[id] = i
		pages = append(pages, p)
	}
	for i, p := range pages {
		p.Wait("two others to choose from", `OT.sessions.find().streams.length === 3`, wait)
		if got := watching(t, p); streams[got] == i {
			t.Errorf("P%d watches itself", i+1)
		}
	}

	// "Next" moves to the other person.
	before := watching(t, pages[0])
	pages[0].Eval(`document.getElementById('next').click()`, nil)
	pages[0].Wait("a new date", fmt.Sprintf(`OT.subscribers.length === 1 && OT.subscribers.find().stream.streamId !== %q`, before), wait)
	if after := watching(t, pages[0]); after == before || streams[after] == 0 {
		t.Errorf("after Next, P1 watches %s (before %s)", after, before)
	}

	// The host's rotate command: in round 1 the publisher of stream i
	// watches stream i+1.
	s, err := a.Room(t.Context(), "dates")
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Post(url+"/rotate?room=dates", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("rotate: %s", res.Status)
	}
	order := s.Streams()
	for i, st := range order {
		want := order[(i+1)%len(order)].ID()
		p := pages[streams[st.ID()]]
		p.Wait("the host's pick", fmt.Sprintf(`OT.subscribers.length === 1 && OT.subscribers.find().stream.streamId === %q`, want), wait)
		watching(t, p)
	}
}
