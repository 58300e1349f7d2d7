//go:build !race

package sfu

import (
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// TestForwardDoesNotAllocate checks the hot path: a packet into a Track and
// out to ten subscribers' transports costs no heap allocation, whether it is
// written on the forwarding goroutine or by the subscribers' writers.
func TestForwardDoesNotAllocate(t *testing.T) {
	for _, inline := range []bool{true, false} {
		tr, _, stop := benchTrack(t, vp8Codec, 10, inline)
		p := benchPacket()
		write := func() {
			p.SequenceNumber++
			p.Timestamp += 3000
			if err := tr.WriteRTP(p); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < 100; i++ {
			write() // warm up: first keyframe, queues
		}
		if allocs := testing.AllocsPerRun(1000, write); allocs > 0.01 {
			t.Errorf("inline %v: %.2f allocations per forwarded packet, want 0", inline, allocs)
		}
		stop()
	}
}

// TestSVCForwardDoesNotAllocate checks the hot path of a VP9 SVC stream,
// to subscribers of different spatial layers.
func TestSVCForwardDoesNotAllocate(t *testing.T) {
	tr, downTracks, stop := benchTrack(t, vp9Codec, 10, true)
	defer stop()
	for i, d := range downTracks {
		d.SetPreferredVideo(160<<(i%3), 120<<(i%3), 0)
	}
	p, next := svcBenchStream()
	write := func() {
		next()
		if err := tr.WriteRTP(p); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		write() // warm up: first keyframe, parser buffers
	}
	if allocs := testing.AllocsPerRun(3600, write); allocs > 0.01 {
		t.Errorf("%.2f allocations per forwarded packet, want 0", allocs)
	}
	if l := downTracks[1].CurrentLayer(); l != 1 {
		t.Errorf("subscriber of 320x240 on layer %d, want 1", l)
	}
}

// TestTWCCRecordingDoesNotAllocate checks the other per-packet path: noting
// a received packet's arrival, at the socket and for TWCC feedback.
func TestTWCCRecordingDoesNotAllocate(t *testing.T) {
	var a arrivalTable
	ticks := newTicker(noBatch{})
	defer ticks.stop()
	i, err := (&twccFactory{arrivals: &a, ticks: ticks}).NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	defer i.Close()
	i.BindRTCPWriter(interceptor.RTCPWriterFunc(func([]rtcp.Packet, interceptor.Attributes) (int, error) { return 0, nil }))
	packets := make([][]byte, 3000)
	for n := range packets {
		packets[n] = rtpWithTWCC(t, 7, uint16(n), uint16(n))
	}
	n := 0
	info := &interceptor.StreamInfo{SSRC: 7, RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: transportCCURI, ID: 5}}}
	r := i.BindRemoteStream(info, interceptor.RTPReaderFunc(func(b []byte, attr interceptor.Attributes) (int, interceptor.Attributes, error) {
		a.record(packets[n], time.Now().UnixNano())
		return copy(b, packets[n]), attr, nil
	}))
	buf := make([]byte, 1500)
	read := func() {
		if _, _, err := r.Read(buf, nil); err != nil {
			t.Fatal(err)
		}
		n++
	}
	for range 100 {
		read() // warm up
	}
	if allocs := testing.AllocsPerRun(2000, read); allocs > 0.01 {
		t.Errorf("%.2f allocations per received packet, want 0", allocs)
	}
}

// TestNACKLoggingDoesNotAllocate checks the NACK generator's per-packet
// path: logging a received packet's sequence number.
func TestNACKLoggingDoesNotAllocate(t *testing.T) {
	ticks := newTicker(noBatch{})
	defer ticks.stop()
	i, err := (&nackFactory{ticks: ticks}).NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	defer i.Close()
	i.BindRTCPWriter(interceptor.RTCPWriterFunc(func([]rtcp.Packet, interceptor.Attributes) (int, error) { return 0, nil }))
	pkt := rtpWithTWCC(t, 7, 0, 0)
	var seq uint16
	info := &interceptor.StreamInfo{SSRC: 7, RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}}}
	r := i.BindRemoteStream(info, interceptor.RTPReaderFunc(func(b []byte, attr interceptor.Attributes) (int, interceptor.Attributes, error) {
		seq++
		n := copy(b, pkt)
		b[2], b[3] = byte(seq>>8), byte(seq)
		return n, attr, nil
	}))
	buf := make([]byte, 1500)
	read := func() {
		if _, _, err := r.Read(buf, nil); err != nil {
			t.Fatal(err)
		}
	}
	if allocs := testing.AllocsPerRun(2000, read); allocs > 0.01 {
		t.Errorf("%.2f allocations per received packet, want 0", allocs)
	}
	if l := i.(*nackGenerator).logs[7]; l.end != seq || l.done != seq {
		t.Errorf("log end %d done %d, want %d: not every packet was logged", l.end, l.done, seq)
	}
}

// noBatch is a batcher for interceptors under test, which write to no socket.
type noBatch struct{}

func (noBatch) holdWrites()    {}
func (noBatch) releaseWrites() {}
