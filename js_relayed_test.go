package crossbar_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/internal/browsertest"
)

func (r *jsRig) relayedSession() *crossbar.Session {
	r.t.Helper()
	return r.sessionWith(crossbar.SessionOptions{MediaMode: crossbar.Relayed})
}

// loopbackOnly makes a page's peer connections ignore the ICE candidates of
// the other end that are not on 127.0.0.1, so that peer connections between
// two pages of the test send to 127.0.0.1 (Chromium has no switch to gather
// on loopback only).
const loopbackOnly = `(() => {
	const add = RTCPeerConnection.prototype.addIceCandidate;
	RTCPeerConnection.prototype.addIceCandidate = function (c, ...rest) {
		if (c && c.candidate && !c.candidate.includes(' 127.0.0.1 ')) return Promise.resolve();
		return add.call(this, c, ...rest);
	};
})()`

// joinLoopback opens the test page, keeps its peer connections on
// loopback, and connects it to s.
func (r *jsRig) joinLoopback(name string, s *crossbar.Session, role crossbar.Role) (*browsertest.Page, string) {
	r.t.Helper()
	p := r.browser.Open(r.t, name, r.url+"/")
	p.Eval(loopbackOnly, nil)
	var res jsResult
	p.Eval(call("join", s.ID(), r.token(s, role, name)), &res)
	if res.Error != nil {
		r.t.Fatalf("page %s: connect: %+v", name, res.Error)
	}
	return p, res.ID
}

// selectedPair returns, as "local remote" addresses, the candidate pair a
// page's RTCStatsReport selected. report is a JavaScript expression for
// the report.
func selectedPair(p *browsertest.Page, report string) string {
	var pair string
	p.Eval(`(async () => {
		const r = await `+report+`;
		const all = [...r.values()];
		const t = all.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
		const pair = t ? r.get(t.selectedCandidatePairId) : all.find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
		if (!pair) return '';
		const at = (id) => r.get(id).address + ':' + r.get(id).port;
		return at(pair.localCandidateId) + ' ' + at(pair.remoteCandidateId);
	})()`, &pair)
	return pair
}

// TestJSRelayedSession has two pages publish to each other in a relayed
// session: each decodes the other's video and receives its audio over a
// peer connection between the pages, while the server forwards nothing.
func TestJSRelayedSession(t *testing.T) {
	r := newJSRig(t)
	s := r.relayedSession()
	a, _ := r.joinLoopback("a", s, crossbar.RolePublisher)
	b, bID := r.joinLoopback("b", s, crossbar.RolePublisher)
	streams := map[*browsertest.Page]string{}
	for _, p := range []*browsertest.Page{a, b} {
		p.Eval(`subscribeAll()`, nil)
		streams[p] = publish(t, p, `{resolution: '320x240'}`)
	}
	for _, p := range []*browsertest.Page{a, b} {
		p.WaitVideos(subscriberVideos, 1, mediaWait)
		p.WaitInboundAudio(mediaWait)
	}
	for _, st := range s.Streams() {
		if st.Publisher() != nil {
			t.Errorf("stream %s has media on the server", st.ID())
		}
	}

	// b's subscriber talks to a's publisher PC for b, and to nothing else.
	a.Wait("publisher stats per subscriber", fmt.Sprintf(`P.getStats().then((s) => s.length === 1 && s[0].connectionId === %q && s[0].stats.video.packetsSent > 0)`, bID), mediaWait)
	subEnd := selectedPair(b, `OT.subscribers.find().getRtcStatsReport()`)
	pubEnd := selectedPair(a, `P.getRtcStatsReport().then((items) => items[0].rtcStatsReport)`)
	var local, remote, pubLocal, pubRemote string
	fmt.Sscan(subEnd, &local, &remote)
	fmt.Sscan(pubEnd, &pubLocal, &pubRemote)
	t.Logf("b subscriber: %s; a publisher for b: %s", subEnd, pubEnd)
	// The pages' sockets on other interfaces of the host still send checks
	// to 127.0.0.1: an end may then be a peer-reflexive candidate, whose
	// address the stats leave out. Its port must still match.
	port := func(addr string) string { return addr[strings.LastIndex(addr, ":"):] }
	if !strings.HasPrefix(local, "127.0.0.1:") || pubRemote != local || port(remote) != port(pubLocal) {
		t.Errorf("b's subscriber uses pair %q, a's publisher PC for b uses %q: not the same path", subEnd, pubEnd)
	}

	// publishVideo works as in routed sessions; subscribeToVideo turns the
	// track off locally.
	a.Eval(`P.publishVideo(false)`, nil)
	b.Wait("hasVideo false", `log.some((e) => e.type === 'streamPropertyChanged' && e.prop === 'hasVideo' && e.value === false)`, mediaWait)
	a.Eval(`P.publishVideo(true)`, nil)
	b.Eval(`OT.subscribers.find().subscribeToVideo(false)`, nil)
	var enabled []bool
	b.Eval(`OT.subscribers.find().element.querySelector('video').srcObject.getVideoTracks().map((t) => t.enabled)`, &enabled)
	if len(enabled) != 1 || enabled[0] {
		t.Errorf("video tracks enabled after subscribeToVideo(false): %v", enabled)
	}
	b.Eval(`OT.subscribers.find().subscribeToVideo(true)`, nil)
	b.WaitVideos(subscriberVideos, 1, mediaWait)

	// A moderator's mute reaches the publisher, which mutes itself.
	if err := s.ForceMuteStream(streams[a]); err != nil {
		t.Fatal(err)
	}
	a.Wait("audio muted by the publisher", `!P.getAudioSource().enabled && P.properties.publishAudio === false`, mediaWait)

	// Unsubscribing closes the publisher's PC for that subscriber.
	b.Eval(`S.unsubscribe(OT.subscribers.find())`, nil)
	a.Wait("publisher PC for b closed", `P.getStats().then((s) => s.length === 0)`, mediaWait)

	// The stream's end closes the subscriber's PC; the connection's end,
	// the publisher's PCs for it.
	a.WaitVideos(subscriberVideos, 1, mediaWait)
	b.Eval(`S.unpublish(P)`, nil)
	a.Wait("subscriber removed", `OT.subscribers.length === 0 && !document.querySelector('.OT_subscriber')`, mediaWait)
	b.Eval(`subscribeAll()`, nil)
	b.WaitVideos(subscriberVideos, 1, mediaWait)
	a.Wait("publisher PC for b", fmt.Sprintf(`P.getStats().then((s) => s.length === 1 && s[0].connectionId === %q)`, bID), mediaWait)
	b.Eval(`S.disconnect()`, nil)
	a.Wait("publisher PC for b closed with b's connection", `P.getStats().then((s) => s.length === 0)`, mediaWait)
}

// TestJSRelayedWithGoClient has a page and a Go client exchange media in a
// relayed session, each way on a peer connection between them.
func TestJSRelayedWithGoClient(t *testing.T) {
	r := newJSRig(t)
	s := r.relayedSession()
	exchangeWithGoClient(t, r, s, r.joinLoopback, func() {
		if n := len(s.Streams()); n != 2 {
			t.Errorf("%d streams, want the bot's and the page's", n)
		}
		for _, st := range s.Streams() {
			if st.Publisher() != nil {
				t.Errorf("stream %s has media on the server", st.ID())
			}
		}
	})
}
