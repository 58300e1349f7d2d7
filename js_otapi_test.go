package crossbar_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/internal/browsertest"
	"github.com/crossbar-rtc/crossbar/sfu"
)

// features is what a page says of OpenTok's feature checks.
const features = `OT.getSupportedCodecs().then((codecs) => ({
  system: OT.checkSystemRequirements(), e2ee: OT.hasEndToEndEncryptionSupport(),
  processors: OT.hasMediaProcessorSupport(), codecs }))`

type featureCheck struct {
	System     int
	E2EE       bool
	Processors bool
	Codecs     struct{ VideoEncoders, VideoDecoders []string }
}

// OpenTok's feature checks tell what this Chromium does: WebRTC, E2EE,
// media processors, and the video codecs the server forwards, VP8 and VP9
// among them (H.264 depends on the build).
func TestJSFeatureChecks(t *testing.T) {
	r := newJSRig(t)
	p := r.browser.Open(t, "features", r.url+"/")
	var f featureCheck
	p.Eval(features, &f)
	t.Logf("%+v", f)
	if f.System != 1 || !f.E2EE || !f.Processors {
		t.Errorf("checks %+v, want all true in Chromium", f)
	}
	for _, list := range [][]string{f.Codecs.VideoEncoders, f.Codecs.VideoDecoders} {
		if fmt.Sprint(list) != "[VP8 H264 VP9]" && fmt.Sprint(list) != "[VP8 VP9]" {
			t.Errorf("codecs %v, want VP8 and VP9, H264 between them if the build has it", list)
		}
	}
}

// session.connection.permissions says what the token's role allows.
func TestJSConnectionPermissions(t *testing.T) {
	r := newJSRig(t)
	s := r.session()
	for _, c := range []struct {
		role crossbar.Role
		want string
	}{
		{crossbar.RoleSubscriber, "0 0 0 1"},
		{crossbar.RolePublisher, "0 0 1 1"},
		{crossbar.RoleModerator, "1 1 1 1"},
	} {
		p, _ := r.join(string(c.role), s, c.role)
		var got string
		p.Eval(`((p) => [p.forceDisconnect, p.forceUnpublish, p.publish, p.subscribe].join(' '))(S.connection.permissions)`, &got)
		if got != c.want {
			t.Errorf("%s: permissions forceDisconnect, forceUnpublish, publish, subscribe = %s, want %s", c.role, got, c.want)
		}
		p.Close()
	}
}

// OT.setProxyUrl sends the signaling through a reverse proxy of the
// handler: the page connects through it; a second call, or one after a
// session was made, fails with OpenTok's errors.
func TestJSSetProxyUrl(t *testing.T) {
	// The page is at the server's address, the proxy at another port.
	r := newJSRigConfig(t, crossbar.Config{Media: sfu.Config{LoopbackOnly: true}, OriginPatterns: []string{"127.0.0.1:*"}})
	s := r.session()
	px, viaProxy := newProxy(t, r.url)
	p := r.browser.Open(t, "proxied", r.url+"/")
	p.Eval(call("OT.setProxyUrl", viaProxy+"/crossbar/"), nil)
	var res jsResult
	p.Eval(call("join", s.ID(), r.token(s, crossbar.RolePublisher, "proxied")), &res)
	if res.Error != nil {
		t.Fatalf("connect through the proxy: %+v", res.Error)
	}
	if n := px.links.Load(); n != 1 {
		t.Errorf("%d links through the proxy, want 1", n)
	}
	for _, c := range []struct {
		page, code string
	}{
		{"again", "2022"},
		{"late", "2021"},
	} {
		q := r.browser.Open(t, c.page, r.url+"/")
		var code string
		q.Eval(fmt.Sprintf(`(() => {
			if (%q === 'again') OT.setProxyUrl(%q);
			else OT.initSession('k', 'some session');
			try { OT.setProxyUrl(%q); return 'none'; } catch (err) { return String(err.code) + ' ' + err.name; }
		})()`, c.page, viaProxy, viaProxy), &code)
		if code[:4] != c.code {
			t.Errorf("setProxyUrl %s: %s, want %s", c.page, code, c.code)
		}
	}
}

// recordPCs keeps the page's peer connections in window.pcs, their
// configuration untouched.
const recordPCs = `(() => {
  const Native = RTCPeerConnection;
  window.pcs = [];
  window.RTCPeerConnection = class extends Native {
    constructor(config) { super(config); pcs.push(this); }
  };
})()`

// relayedPairs is true when the page has peer connections, all with
// iceTransportPolicy 'relay', and each connected one has selected a pair
// whose local candidate is relayed.
const relayedPairs = `pcs.length > 0 && pcs.every((pc) => pc.getConfiguration().iceTransportPolicy === 'relay') &&
  Promise.all(pcs.filter((pc) => pc.connectionState === 'connected').map(async (pc) => {
    const stats = await pc.getStats();
    let relayed = false;
    stats.forEach((r) => {
      if (r.type !== 'transport' || !r.selectedCandidatePairId) return;
      relayed = stats.get(stats.get(r.selectedCandidatePairId).localCandidateId).candidateType === 'relay';
    });
    return relayed;
  })).then((all) => all.length > 0 && all.every(Boolean))`

// relayConfig is the session option that sends a page's media through
// TURN relays only.
const relayConfig = `{iceConfig: {includeServers: 'all', transportPolicy: 'relay'}}`

// The iceConfig option's transportPolicy 'relay' sends the media of both
// pages through the server's TURN, as relayOnly does by hand; bad
// iceConfigs are refused.
func TestJSIceConfigRelay(t *testing.T) {
	r := newJSRigConfig(t, crossbar.Config{Media: sfu.Config{LoopbackOnly: true}, TURN: loopbackTURN})
	s := r.session()
	a, _ := r.joinWith("a", s, crossbar.RolePublisher, recordPCs, relayConfig)
	b, _ := r.joinWith("b", s, crossbar.RolePublisher, recordPCs, relayConfig)
	b.Eval(`subscribeAll()`, nil)
	publish(t, a, `{resolution: '320x240', frameRate: 15}`)
	browsertest.WaitDecodedVideo(t, b, "b", mediaWait)
	for _, p := range []*browsertest.Page{a, b} {
		p.Wait("media over relayed candidates only", relayedPairs, mediaWait)
	}
	var errs []string
	b.Eval(`Promise.all(['x', {includeServers: 'some'}, {transportPolicy: 'tcp'}, {customServers: [{}]}].map((c) =>
		S.setIceConfig(c).then(() => 'accepted', (err) => err.name)))`, &errs)
	for i, e := range errs {
		if e != "OT_INVALID_PARAMETER" {
			t.Errorf("bad iceConfig %d: %s", i, e)
		}
	}
}

// A page whose media cannot reach the server (relay only, and no TURN)
// learns that its publish failed when the server ends the stream at its
// PublishTimeout, instead of at the page's own 20 s timeout, and its
// publisher's transceivers are stopped.
func TestJSPublishWithoutAMediaPathFails(t *testing.T) {
	r := newJSRigConfig(t, crossbar.Config{Media: sfu.Config{LoopbackOnly: true, PublishTimeout: time.Second}})
	s := r.session()
	p, _ := r.joinWith("a", s, crossbar.RolePublisher, recordPCs, relayConfig)
	var res jsResult
	start := time.Now()
	p.Eval(`publish({resolution: '320x240'})`, &res)
	took := time.Since(start)
	if res.Error == nil || res.Error.Name != "OT_ICE_WORKFLOW_FAILED" || !strings.Contains(res.Error.Message, string(crossbar.ReasonMediaStopped)) {
		t.Fatalf("publish without a media path: %+v, want OT_ICE_WORKFLOW_FAILED from the server's mediaStopped", res.Error)
	}
	t.Logf("publish failed after %v: %s", took.Round(10*time.Millisecond), res.Error.Message)
	p.Wait("the publisher's transceivers stopped", `pcs.length > 0 && pcs.every((pc) => pc.getTransceivers().every((t) => t.direction === 'stopped'))`, 10*time.Second)
	if n := len(s.Streams()); n != 0 {
		t.Errorf("the session has %d streams", n)
	}
}
