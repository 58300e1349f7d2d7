package sfu

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"runtime"
	"testing"
	"time"
)

// heapInUse returns the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// garbage returns n datagrams that look like SRTP and SRTCP from random
// SSRCs but fail authentication, as anyone who knows a participant's
// address and the engine's port can send.
func garbage(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		b := make([]byte, 200)
		for j := range b {
			b[j] = byte(rand.Uint32())
		}
		b[0] = 0x80
		if i%2 == 0 {
			b[1] = 96 // RTP, VP8's payload type
		} else {
			b[1] = 200 // RTCP sender report
			binary.BigEndian.PutUint16(b[2:4], uint16(len(b)/4-1))
		}
		out[i] = b
	}
	return out
}

// Packets of SSRCs a connection never negotiated are dropped before Pion
// sees them: a flood of them from a publisher's own address grows no
// memory, and the publisher's real media keeps flowing to its subscriber.
// (Timings are left to the load tool: a loaded machine stretches them.)
func TestUnknownSSRCFloodIsDropped(t *testing.T) {
	for name, cfg := range map[string]Config{
		"shared port": {LoopbackOnly: true},
		"port range":  {LoopbackOnly: true, PortMin: 42200, PortMax: 42299},
	} {
		t.Run(name, func(t *testing.T) {
			e, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = e.Close() })
			conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			pub := newTestClient(t, e, "pub", clientOptions{publishConn: conn})
			sub := newTestClient(t, e, "sub", clientOptions{})
			_, video := pub.publish()
			sub.subscribe(video, "s", "v")
			waitReceiving(t, sub, []string{"s/v"}, 50)
			got := sub.track("s/v")

			pair, err := pub.pub.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
			if err != nil || pair == nil {
				t.Fatalf("no selected pair: %v", err)
			}
			server := &net.UDPAddr{IP: net.ParseIP(pair.Remote.Address), Port: int(pair.Remote.Port)}
			before := heapInUse()
			in0 := video.Stats().PacketsIn
			_, out0 := got.counts()
			const flood = 40000
			packets := garbage(flood)
			start := time.Now()
			for i, b := range packets {
				if _, err := conn.WriteToUDP(b, server); err != nil {
					t.Fatal(err)
				}
				if i%200 == 199 {
					time.Sleep(10 * time.Millisecond) // at most 20,000 packets a second
				}
			}
			after := heapInUse()
			// The publisher's own packets got through the gate, and the
			// subscriber's video kept coming.
			in := video.Stats().PacketsIn - in0
			if in == 0 {
				t.Fatal("the publisher's video did not get through during the flood")
			}
			waitFor(t, 10*time.Second, "the subscriber to get as much video as the flood let through", func() bool {
				_, out := got.counts()
				return uint64(out-out0) >= in
			})
			t.Logf("%d garbage packets in %v: heap %.1f -> %.1f MB; %d of the publisher's video packets got through meanwhile",
				flood, time.Since(start).Round(time.Millisecond), float64(before)/1e6, float64(after)/1e6, in)
			if after > before+4<<20 {
				t.Errorf("heap grew %.1f MB under the flood", float64(after-before)/1e6)
			}
		})
	}
}

func rtpFrom(ssrc uint32) []byte {
	b := make([]byte, 20)
	b[0], b[1] = 0x80, 96
	binary.BigEndian.PutUint32(b[8:12], ssrc)
	return b
}

func rtcpFrom(ssrc uint32) []byte {
	b := make([]byte, 20)
	b[0], b[1] = 0x80, 201
	binary.BigEndian.PutUint32(b[4:8], ssrc)
	return b
}

func TestSSRCGate(t *testing.T) {
	g := newSSRCGate()
	g.declare("v=0\r\na=ssrc:111 cname:x\r\na=ssrc:222 msid:a b\r\n")
	for _, b := range [][]byte{rtpFrom(111), rtpFrom(222), rtcpFrom(111), {0x16, 0xfe, 0xfd}, make([]byte, 30)} {
		if !g.admit(b) {
			t.Fatalf("%x refused", b)
		}
	}
	// Unknown SSRCs: simulcast layers are admitted up to the cap.
	for i := range uint32(maxPendingSSRCs) {
		if !g.admit(rtpFrom(1000 + i)) {
			t.Fatalf("pending SSRC %d refused", i)
		}
	}
	if g.admit(rtpFrom(5000)) {
		t.Fatal("SSRC past the cap admitted")
	}
	if !g.admit(rtpFrom(1000)) || !g.admit(rtcpFrom(1001)) {
		t.Fatal("an admitted SSRC was refused later")
	}
	// A layer Pion made a track of frees its place.
	g.track(1000)
	if !g.admit(rtpFrom(5000)) || g.admit(rtpFrom(5001)) {
		t.Fatal("a track did not free exactly one place")
	}
	// An ended track's late packets are dropped until the next
	// negotiation, which may reuse its SSRC.
	g.retire(1000)
	g.retire(111)
	if g.admit(rtpFrom(1000)) || g.admit(rtpFrom(111)) {
		t.Fatal("late packets of an ended track admitted")
	}
	g.declare("a=ssrc:111 cname:x\r\n")
	if !g.admit(rtpFrom(111)) {
		t.Fatal("a declared SSRC of an ended track was refused after a new negotiation")
	}
	// Receivers' own RTCP SSRCs are admitted up to their cap.
	for i := range uint32(maxRTCPSenders) {
		if !g.admit(rtcpFrom(9000 + i)) {
			t.Fatalf("RTCP sender %d refused", i)
		}
	}
	if g.admit(rtcpFrom(9999)) {
		t.Fatal("RTCP sender past the cap admitted")
	}
	if g.dropped.Load() == 0 {
		t.Fatal("drops not counted")
	}
}

func TestSSRCsOf(t *testing.T) {
	got := ssrcsOf("v=0\r\na=ssrc-group:FID 1 2\r\na=ssrc:1 cname:a\r\na=ssrc:2 cname:a\r\na=ssrc:4294967295 msid:x y\r\na=ssrc:bad\r\n")
	if len(got) != 3 {
		t.Fatalf("got %v", got)
	}
	for _, s := range []uint32{1, 2, 4294967295} {
		if _, ok := got[s]; !ok {
			t.Fatalf("missing %d in %v", s, got)
		}
	}
}

func BenchmarkSSRCGate(b *testing.B) {
	g := newSSRCGate()
	g.declare("a=ssrc:1 cname:a\r\na=ssrc:2 cname:a\r\n")
	audio, video := rtpFrom(1), rtpFrom(2)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%4 == 0 {
			g.admit(audio)
		} else {
			g.admit(video)
		}
	}
}
