package crossbar_test

import (
	"fmt"
	"testing"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/internal/firefoxtest"
)

// A Firefox page and a Chromium page in one routed session publish their
// cameras; each decodes the other's video and receives its audio, and
// signals go both ways. (Firefox runs inside a network namespace: see
// package firefoxtest.)
func TestFirefoxAndChromiumExchangeMedia(t *testing.T) {
	ff := firefoxtest.New(t)
	r := newJSRig(t)
	s := r.session()
	chrome, chromeID := r.join("chromium", s, crossbar.RolePublisher)
	fox := ff.Open(t, "firefox", r.url+"/")
	var res jsResult
	fox.Eval(call("join", s.ID(), r.token(s, crossbar.RolePublisher, "firefox")), &res)
	if res.Error != nil {
		t.Fatalf("firefox: connect: %+v", res.Error)
	}
	foxID := res.ID

	for name, p := range map[string]interface{ Eval(string, any) }{"chromium": chrome, "firefox": fox} {
		var pub jsResult
		p.Eval(`publish()`, &pub)
		if pub.Error != nil {
			t.Fatalf("%s: publish: %+v", name, pub.Error)
		}
		p.Eval(`subscribeAll()`, nil)
	}
	chrome.WaitVideos(subscriberVideos, 1, mediaWait)
	chrome.WaitInboundAudio(mediaWait)
	fox.WaitDecodedVideo(mediaWait)
	fox.WaitInboundAudio(mediaWait)

	fox.Eval(`S.signal({type: 'hello', data: 'from firefox'})`, nil)
	chrome.Wait("firefox's signal", fmt.Sprintf(`log.some((e) => e.type === 'signal:hello' && e.data === 'from firefox' && e.from === %q)`, foxID), 5e9)
	chrome.Eval(`S.signal({type: 'hello', data: 'from chromium'})`, nil)
	fox.Wait("chromium's signal", fmt.Sprintf(`log.some((e) => e.type === 'signal:hello' && e.data === 'from chromium' && e.from === %q)`, chromeID), 5e9)
}
