package main

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/crossbar-rtc/crossbar/examples/internal/apptest"
	"github.com/crossbar-rtc/crossbar/examples/videochat/room"
	"github.com/crossbar-rtc/crossbar/internal/browsertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(browsertest.Main(m))
}

const (
	remoteVideos = "#grid .OT_subscriber:not(.OT_loading) video.OT_video-element"
	ownVideo     = "#grid .OT_publisher:not(.OT_loading) video.OT_video-element"
	wait         = 20 * time.Second
)

// openRoom opens n pages in one room and waits until each plays its own
// camera and the video of every other page.
func openRoom(t *testing.T, name string, n int) []*browsertest.Page {
	t.Helper()
	url, _ := apptest.Serve(t, room.Handler)
	b := browsertest.New(t)
	var pages []*browsertest.Page
	for i := range n {
		page := fmt.Sprintf("P%d", i+1)
		pages = append(pages, b.Open(t, page, fmt.Sprintf("%s/?room=%s&name=%s", url, name, page)))
	}
	for _, p := range pages {
		p.WaitVideos(ownVideo, 1, wait)
		p.WaitVideos(remoteVideos, n-1, wait)
	}
	return pages
}

func count(t *testing.T, p *browsertest.Page, selector string) int {
	t.Helper()
	var n int
	p.Eval(fmt.Sprintf("document.querySelectorAll(%q).length", selector), &n)
	return n
}

func TestThreePagesSeeAndHearEachOther(t *testing.T) {
	pages := openRoom(t, "three", 3)
	for _, p := range pages {
		if n := count(t, p, "#grid .OT_subscriber"); n != 2 {
			t.Errorf("a page shows %d subscribers, want 2", n)
		}
		p.WaitInboundAudio(wait)
		p.Wait("3 people counted", `document.getElementById('people').textContent === '3 here'`, wait)
	}
}

func TestChatReachesEveryoneAndSignalsOneTarget(t *testing.T) {
	pages := openRoom(t, "chat", 3)
	pages[0].Eval(`document.getElementById('text').value = 'hello <b>all</b>';
		document.getElementById('say').requestSubmit()`, nil)
	for _, p := range pages {
		p.Wait("chat line", `[...document.querySelectorAll('#messages li')].some((li) => li.textContent.endsWith('hello <b>all</b>'))`, wait)
	}
	if n := count(t, pages[1], "#messages b"); n != 0 {
		t.Errorf("chat text was rendered as HTML: %d <b> elements", n)
	}
	// A signal to one connection reaches only it.
	var target string
	pages[2].Eval(`OT.sessions.find().connection.connectionId`, &target)
	pages[0].Eval(fmt.Sprintf(`(() => { const s = OT.sessions.find();
		return s.signal({type: 'chat', data: 'psst', to: s.connections.get(%q)}); })()`, target), nil)
	pages[2].Wait("direct line", `[...document.querySelectorAll('#messages li')].some((li) => li.textContent === 'P1psst')`, wait)
	time.Sleep(300 * time.Millisecond)
	for _, p := range pages[:2] {
		var got bool
		p.Eval(`[...document.querySelectorAll('#messages li')].some((li) => li.textContent.endsWith('psst'))`, &got)
		if got {
			t.Error("a signal to P3 reached another page")
		}
	}
}

func TestMuteStopVideoAndLeaveShowOnOtherPages(t *testing.T) {
	pages := openRoom(t, "mute", 3)
	var stream string
	pages[0].Eval(`OT.publishers.find().stream.streamId`, &stream)
	others := pages[1:]

	pages[0].Eval(`document.getElementById('cam').click()`, nil)
	for _, p := range others {
		p.Wait("P1's tile shows no video", `document.querySelectorAll('#grid .OT_subscriber.OT_audio-only').length === 1`, wait)
		p.Wait("hasVideo false", fmt.Sprintf(`OT.sessions.find().streams.get(%q).hasVideo === false`, stream), wait)
	}
	pages[0].Eval(`document.getElementById('mic').click()`, nil)
	for _, p := range others {
		p.Wait("hasAudio false", fmt.Sprintf(`OT.sessions.find().streams.get(%q).hasAudio === false`, stream), wait)
	}
	pages[0].Eval(`document.getElementById('cam').click()`, nil)
	for _, p := range others {
		p.Wait("P1's video back", `document.querySelectorAll('#grid .OT_subscriber.OT_audio-only').length === 0`, wait)
		p.WaitVideos(remoteVideos, 2, wait)
	}

	pages[0].Eval(`document.getElementById('leave').click()`, nil)
	pages[0].Wait("own tile removed", `document.querySelectorAll('#grid .tile').length === 0`, wait)
	for _, p := range others {
		p.Wait("P1's tile removed", `document.querySelectorAll('#grid .OT_subscriber').length === 1`, wait)
		p.Wait("left notice", `[...document.querySelectorAll('#messages li')].some((li) => li.textContent === 'P1 left')`, wait)
		p.WaitVideos(remoteVideos, 1, wait)
	}
}
