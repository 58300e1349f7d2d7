package main

import (
	"fmt"
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
	stageVideo = "#stage .OT_subscriber:not(.OT_loading) video.OT_video-element"
	wait       = 20 * time.Second
)

func TestViewersWatchAndCannotPublish(t *testing.T) {
	url, _ := apptest.Serve(t, handler)
	b := browsertest.New(t)
	host := b.Open(t, "host", url+"/host?room=show&name=Host")
	host.WaitVideos("#stage .OT_publisher video", 1, wait)
	var viewers []*browsertest.Page
	for i := range 2 {
		v := b.Open(t, fmt.Sprintf("viewer%d", i+1), url+"/?room=show")
		v.WaitVideos(stageVideo, 1, wait)
		v.WaitInboundAudio(wait)
		viewers = append(viewers, v)
	}
	host.Wait("2 watching", `document.getElementById('viewers').textContent === '2 watching'`, wait)

	// A subscriber token cannot publish: OpenTok's code 1500.
	var got struct {
		Name string
		Code int
	}
	viewers[0].Eval(`new Promise((resolve) => {
		const p = OT.initPublisher(document.body, {insertMode: 'append'});
		OT.sessions.find().publish(p, (err) => resolve(err ? {name: err.name, code: err.code} : {}));
	})`, &got)
	if got.Code != 1500 || got.Name != "OT_PERMISSION_DENIED" {
		t.Errorf("viewer publish: got %+v, want OT_PERMISSION_DENIED 1500", got)
	}

	// Stopping the broadcast clears the viewers' stage; restarting fills it.
	host.Eval(`document.getElementById('onair').click()`, nil)
	for _, v := range viewers {
		v.Wait("stage empty", `document.querySelectorAll('#stage .OT_subscriber').length === 0 && !document.getElementById('waiting').hidden`, wait)
	}
	host.Eval(`document.getElementById('onair').click()`, nil)
	for _, v := range viewers {
		v.WaitVideos(stageVideo, 1, wait)
	}
}
