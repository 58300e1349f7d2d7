package crossbar_test

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/internal/browsertest"
	"github.com/crossbar-rtc/crossbar/sfu"
)

// loopbackTURN is an embedded TURN server on loopback, over UDP and TCP.
var loopbackTURN = crossbar.TURNConfig{PublicIP: "127.0.0.1", RelayIP: "127.0.0.1", UDPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0"}

// relayOnly makes the page's peer connections use relayed candidates only
// (iceTransportPolicy 'relay'), through the TURN URLs of the given
// transport, and keeps them in window.pcs.
const relayOnly = `(() => {
  const Native = RTCPeerConnection;
  window.pcs = [];
  window.RTCPeerConnection = class extends Native {
    constructor(config) {
      const iceServers = (config.iceServers || []).map((s) => ({ ...s, urls: [].concat(s.urls).filter((u) => u.endsWith('transport=%s')) }));
      super({ ...config, iceServers, iceTransportPolicy: 'relay' });
      pcs.push(this);
    }
  };
})()`

// relayedMedia is true when the page has a connected peer connection, and
// every one has selected a relayed candidate pair over the transport (%s),
// and these pairs carried media: more bytes than ICE and DTLS exchange.
// (Chromium may move its media to a second relay to the same server, which
// Pion, controlled, does not follow: its RTCP keeps coming over the first,
// so the selected pair need not carry bytes both ways.)
const relayedMedia = `Promise.all(pcs.filter((pc) => pc.connectionState === 'connected').map(async (pc) => {
  const stats = await pc.getStats();
  let pair = null;
  stats.forEach((r) => {
    if (r.type !== 'transport' || !r.selectedCandidatePairId) return;
    const p = stats.get(r.selectedCandidatePairId);
    const local = stats.get(p.localCandidateId);
    pair = { relayed: local.candidateType === 'relay' && local.relayProtocol === '%[1]s', bytes: p.bytesSent + p.bytesReceived };
  });
  return pair;
})).then((pairs) => pairs.length > 0 && pairs.every((p) => p && p.relayed) && pairs.reduce((n, p) => n + p.bytes, 0) > 20000)`

// TestJSRelayOnlyThroughEmbeddedTURN publishes and subscribes from two
// Chromium pages allowed relayed candidates only, through the embedded
// TURN server over UDP and over TCP.
func TestJSRelayOnlyThroughEmbeddedTURN(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			r := newJSRigConfig(t, crossbar.Config{Media: sfu.Config{LoopbackOnly: true}, TURN: loopbackTURN, Metrics: reg})
			s := r.session()
			setup := fmt.Sprintf(relayOnly, transport)
			a, _ := r.joinWith("a", s, crossbar.RolePublisher, setup, "undefined")
			b, _ := r.joinWith("b", s, crossbar.RolePublisher, setup, "undefined")
			b.Eval(`subscribeAll()`, nil)
			publish(t, a, `{resolution: '320x240', frameRate: 15}`)
			b.WaitVideos(subscriberVideos, 1, mediaWait)
			browsertest.WaitDecodedVideo(t, b, "b", mediaWait)
			b.WaitInboundAudio(mediaWait)

			for _, p := range []*browsertest.Page{a, b} {
				p.Wait("media over relayed candidates only, over "+transport, fmt.Sprintf(relayedMedia, transport), mediaWait)
			}
			// Each page holds a relay for each of its peer connections: a's
			// publishing one, b's subscribing one, and the subscribing one
			// each made on connect.
			if got := scrape(t, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))["crossbar_turn_allocations"]; got < 2 {
				t.Errorf("%v TURN allocations, want at least 2", got)
			}
		})
	}
}
