package crossbar_test

import (
	"fmt"
	"testing"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/internal/browsertest"
	"github.com/crossbar-rtc/crossbar/internal/firefoxtest"
)

// Two Chromium pages with one encryption secret decode each other's
// video; a third, with another secret, receives both streams and decodes
// neither.
func TestJSE2EE(t *testing.T) {
	r := newJSRig(t)
	open := r.chromiumTab(t)
	exchangeEncrypted(t, r, map[string]tab{"alice": open("alice"), "bob": open("bob"), "eve": open("eve")})
}

// A Firefox page and a Chromium page with one encryption secret decode
// each other's video, each opening what the other browser sealed; a
// Firefox page and a Chromium page with another secret decode neither
// stream.
func TestFirefoxE2EEWithChromium(t *testing.T) {
	ff := firefoxtest.New(t)
	r := newJSRig(t)
	chromium := r.chromiumTab(t)
	firefox := func(name string) tab { return ff.Open(t, name, r.url+"/") }
	exchangeEncrypted(t, r, map[string]tab{
		"alice": firefox("alice"), "bob": chromium("bob"),
		"eve": firefox("eve"), "mallory": chromium("mallory"),
	})
}

// sealedSubscribeAll subscribes the page to every stream, now and later,
// noting in window.mismatched the streams whose frames the page's secret
// does not open; frames() counts each subscriber's received video packets
// and decoded frames.
const sealedSubscribeAll = `(() => {
  window.mismatched = new Set();
  window.frames = () => Promise.all(OT.subscribers.map(async (s) => {
    const n = { packets: 0, decoded: 0 };
    (await s.getRtcStatsReport()).forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') Object.assign(n, { packets: r.packetsReceived, decoded: r.framesDecoded });
    });
    return n;
  }));
  const sub = (st) => S.subscribe(st, document.body, { insertMode: 'append' }).on('encryptionSecretMismatch', () => mismatched.add(st.streamId));
  S.streams.forEach((st) => st.connection.connectionId !== S.connection.connectionId && sub(st));
  S.on('streamCreated', (e) => sub(e.stream));
})()`

// e2eeWait bounds the waits for media of encrypted sessions: every frame
// goes through a worker and WebCrypto twice, which a loaded machine slows.
const e2eeWait = 2 * mediaWait

// frameCount is a subscriber's count of video packets and decoded frames.
type frameCount struct{ Packets, Decoded int }

// exchangeEncrypted runs an end-to-end encrypted session (SessionOptions.E2EE),
// which refuses every page without a secret; then pages alice and
// bob join with one secret and publish, the others with another secret,
// and every page subscribes to every stream. Alice and bob decode 10
// frames of each other's video; the others' subscriptions stand, receive
// 100 packets of each stream, decode no frame, and hear that the secret
// does not match.
func exchangeEncrypted(t *testing.T, r *jsRig, pages map[string]tab) {
	s := r.sessionWith(crossbar.SessionOptions{E2EE: true})
	for name, p := range pages {
		// Without a secret, the session refuses the page.
		var refused jsResult
		p.Eval(call("join", s.ID(), r.token(s, crossbar.RolePublisher, name)), &refused)
		if refused.Error == nil || refused.Error.Code != 6000 || refused.Error.Name != "OT_ENCRYPTION_SECRET_MISSING" {
			t.Fatalf("%s without a secret: %+v, want 6000 OT_ENCRYPTION_SECRET_MISSING", name, refused.Error)
		}
	}
	for name, p := range pages {
		secret := "correct horse battery staple"
		if name != "alice" && name != "bob" {
			secret = "a guess at the secret"
		}
		var res jsResult
		p.Eval(fmt.Sprintf("join(%s, %s, {encryptionSecret: %s})", jsString(s.ID()), jsString(r.token(s, crossbar.RolePublisher, name)), jsString(secret)), &res)
		if res.Error != nil {
			t.Fatalf("%s: connect: %+v", name, res.Error)
		}
	}
	for _, name := range []string{"alice", "bob"} {
		publish(t, pages[name], "{}")
	}
	for _, p := range pages {
		p.Eval(sealedSubscribeAll, nil)
	}
	for name, p := range pages {
		if name == "alice" || name == "bob" {
			browsertest.Wait(t, p, name, "10 decoded frames", `frames().then((f) => f.length === 1 && f[0].decoded >= 10)`, e2eeWait)
			continue
		}
		browsertest.Wait(t, p, name, "both streams' secrets mismatched", `mismatched.size === 2`, e2eeWait)
		browsertest.Wait(t, p, name, "100 video packets of each stream", `frames().then((f) => f.length === 2 && f.every((n) => n.packets >= 100))`, e2eeWait)
	}
	for name, p := range pages {
		var counts []frameCount
		p.Eval(`frames()`, &counts)
		t.Logf("%s's subscribers: %+v", name, counts)
		for _, c := range counts {
			if sealed := name != "alice" && name != "bob"; sealed != (c.Decoded == 0) {
				t.Errorf("%s decoded %d frames of %d packets", name, c.Decoded, c.Packets)
			}
		}
	}
}
