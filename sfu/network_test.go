package sfu

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/pion/webrtc/v3"
)

// candidates returns the a=candidate lines of an SDP.
func candidates(sdp string) []string {
	var lines []string
	for _, l := range strings.Split(sdp, "\r\n") {
		if strings.HasPrefix(l, "a=candidate:") {
			lines = append(lines, l)
		}
	}
	return lines
}

// offerAudio returns a client offer sending one audio track, with candidates.
func offerAudio(t *testing.T) string { return offerTrack(t, webrtc.RTPCodecTypeAudio) }

// offerTrack returns a client offer sending one track of kind in any of
// Pion's default codecs, with candidates.
func offerTrack(t *testing.T, kind webrtc.RTPCodecType) string {
	t.Helper()
	pc, err := newClientAPI(t, clientOptions{}).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	sdp, err := gather(pc, offer)
	if err != nil {
		t.Fatal(err)
	}
	return sdp
}

func answerFrom(t *testing.T, cfg Config) (*Engine, string) {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	p, err := e.NewPeer(PeerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	answer, err := p.Publish(offerAudio(t))
	if err != nil {
		t.Fatal(err)
	}
	return e, answer
}

func TestSharedUDPPort(t *testing.T) {
	e, answer := answerFrom(t, Config{LoopbackOnly: true})
	addrs := e.LocalAddrs()
	if len(addrs) != 1 {
		t.Fatalf("listening on %v, want one UDP socket", addrs)
	}
	port := strconv.Itoa(addrs[0].(*net.UDPAddr).Port)
	cands := candidates(answer)
	if len(cands) == 0 {
		t.Fatal("answer has no candidates")
	}
	for _, c := range cands {
		if !strings.Contains(c, " udp ") || !strings.Contains(c, " 127.0.0.1 "+port+" ") {
			t.Errorf("candidate %q is not the shared socket 127.0.0.1:%s", c, port)
		}
	}
}

func TestPortRange(t *testing.T) {
	e, answer := answerFrom(t, Config{LoopbackOnly: true, PortMin: 42100, PortMax: 42199})
	if addrs := e.LocalAddrs(); len(addrs) != 0 {
		t.Fatalf("shared sockets %v with a port range", addrs)
	}
	cands := candidates(answer)
	if len(cands) == 0 {
		t.Fatal("answer has no candidates")
	}
	for _, c := range cands {
		f := strings.Fields(c)
		if port, _ := strconv.Atoi(f[5]); port < 42100 || port > 42199 {
			t.Errorf("candidate %q outside the port range", c)
		}
	}
}

func TestNAT1To1(t *testing.T) {
	_, answer := answerFrom(t, Config{LoopbackOnly: true, PublicIPs: []string{"203.0.113.7"}})
	cands := candidates(answer)
	if len(cands) == 0 {
		t.Fatal("answer has no candidates")
	}
	for _, c := range cands {
		if !strings.Contains(c, " 203.0.113.7 ") {
			t.Errorf("candidate %q does not carry the public IP", c)
		}
	}
}

func TestICETCP(t *testing.T) {
	e, err := New(Config{LoopbackOnly: true, TCPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	// A publisher and a subscriber whose UDP is blocked reach the engine
	// over ICE-TCP; the TCP subscriber's packets are written by its
	// DownTrack's writer, the UDP subscriber's on the forwarding goroutine.
	pub := newTestClient(t, e, "tcp", clientOptions{tcpOnly: true})
	sub := newTestClient(t, e, "udp", clientOptions{})
	tcpSub := newTestClient(t, e, "tcp-sub", clientOptions{tcpOnly: true})
	_, video := pub.publish()
	sub.subscribe(video, "s", "v")
	tcpSub.subscribe(video, "s", "v")
	waitReceiving(t, sub, []string{"s/v"}, 20)
	waitReceiving(t, tcpSub, []string{"s/v"}, 20)
	pair, err := pub.pub.GetSenders()[0].Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local.Protocol != webrtc.ICEProtocolTCP {
		t.Fatalf("publisher's selected pair %v (%v), want TCP", pair, err)
	}
	if !sub.peer.subUDP.Load() || tcpSub.peer.subUDP.Load() {
		t.Errorf("writes on the forwarding goroutine: UDP subscriber %v, TCP subscriber %v; want true, false",
			sub.peer.subUDP.Load(), tcpSub.peer.subUDP.Load())
	}
	// Only the TCP subscriber's DownTrack needed a writer goroutine.
	for _, c := range []struct {
		client *testClient
		want   bool
	}{{sub, false}, {tcpSub, true}} {
		c.client.peer.mu.Lock()
		for d := range c.client.peer.downTracks {
			if got := d.writerStarted.Load(); got != c.want {
				t.Errorf("%s: writer goroutine started %v, want %v", c.client.name, got, c.want)
			}
		}
		c.client.peer.mu.Unlock()
	}
	if got := e.ICEServers(); len(got) != 0 {
		t.Errorf("ICE servers %v, want none", got)
	}
}

func TestICEServersHandedOut(t *testing.T) {
	servers := []webrtc.ICEServer{{URLs: []string{"stun:stun.example.org:3478"}}}
	e, err := New(Config{LoopbackOnly: true, ICEServers: servers})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	got := e.ICEServers()
	if len(got) != 1 || got[0].URLs[0] != servers[0].URLs[0] {
		t.Fatalf("ICEServers() = %v", got)
	}
	got[0].URLs = nil // callers get a copy
	if e.ICEServers()[0].URLs == nil {
		t.Fatal("ICEServers returned the engine's own slice")
	}
}

func TestBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{UDPAddr: "nonsense"},
		{UDPAddr: "192.0.2.1:99999"},
		{TCPAddr: "256.0.0.1:0", LoopbackOnly: true},
		{PortMin: 50000, PortMax: 40000},
	} {
		if e, err := New(cfg); err == nil {
			e.Close()
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func TestUDPAddrForms(t *testing.T) {
	for _, addr := range []string{"localhost:0", "0.0.0.0:0", ":0"} {
		e, answer := answerFrom(t, Config{LoopbackOnly: true, UDPAddr: addr})
		if len(e.LocalAddrs()) == 0 {
			t.Errorf("%s: no socket", addr)
		}
		for _, c := range candidates(answer) {
			if !strings.Contains(c, " 127.0.0.1 ") && !strings.Contains(c, " ::1 ") {
				t.Errorf("%s: candidate %q is not loopback", addr, c)
			}
		}
	}
}

// A client that only subscribes has no publishing PeerConnection on the
// engine (it would cost goroutines and tickers for nothing); one is made by
// its first Publish.
func TestPublishingConnectionIsLazy(t *testing.T) {
	e, err := New(Config{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	pub := newTestClient(t, e, "pub", clientOptions{})
	sub := newTestClient(t, e, "sub", clientOptions{})
	_, video := pub.publish()
	sub.subscribe(video, "s", "v")
	waitReceiving(t, sub, []string{"s/v"}, 20)
	sub.peer.mu.Lock()
	subPub := sub.peer.pub
	sub.peer.mu.Unlock()
	if subPub != nil {
		t.Error("a subscribing-only peer has a publishing connection")
	}
	err = sub.peer.AddICECandidate(PCPublish, webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host"})
	if !errors.Is(err, ErrNotPublishing) {
		t.Errorf("candidate for a publishing connection never offered: %v, want ErrNotPublishing", err)
	}
	pub.peer.mu.Lock()
	pubPub := pub.peer.pub
	pub.peer.mu.Unlock()
	if pubPub == nil {
		t.Error("a publishing peer has no publishing connection")
	}
}

// A Peer restricted to one video codec answers with that codec only.
func TestPeerVideoCodec(t *testing.T) {
	e := newTestEngine(t)
	offer := offerTrack(t, webrtc.RTPCodecTypeVideo)
	for _, mime := range []string{webrtc.MimeTypeVP8, webrtc.MimeTypeH264, webrtc.MimeTypeVP9, ""} {
		p, err := e.NewPeer(PeerConfig{VideoCodec: mime})
		if err != nil {
			t.Fatal(err)
		}
		answer, err := p.Publish(offer)
		if err != nil {
			t.Fatalf("%q: %v", mime, err)
		}
		var got []string
		for _, l := range strings.Split(answer, "\r\n") {
			if rest, ok := strings.CutPrefix(l, "a=rtpmap:"); ok {
				got = append(got, strings.SplitN(strings.Fields(rest)[1], "/", 2)[0])
			}
		}
		for _, name := range got {
			if mime != "" && !strings.EqualFold("video/"+name, mime) {
				t.Errorf("%q: the answer offers %v", mime, got)
				break
			}
		}
		if mime == "" && len(got) < 3 {
			t.Errorf("no restriction: the answer offers only %v", got)
		}
		_ = p.Close()
	}
	if _, err := e.NewPeer(PeerConfig{VideoCodec: "video/AV1"}); !errors.Is(err, ErrUnknownCodec) {
		t.Fatalf("an unknown codec: %v", err)
	}
}
