package sfu

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// TestReceptionStats checks a report block's figures: the highest
// sequence number across a wrap, losses in all and since the last
// report, jitter, and the last sender report and the time since.
func TestReceptionStats(t *testing.T) {
	s := &receptionStats{clockRate: 90000}
	at := time.Unix(1000, 0)
	// 10 packets, one every 10 ms (900 ticks), up to the wrap: no jitter.
	for i := range 10 {
		s.add(uint16(65530+i), uint32(i*900), at.Add(time.Duration(i)*10*time.Millisecond))
	}
	b, ok := s.report(7, at.Add(100*time.Millisecond))
	if !ok || b.SSRC != 7 || b.LastSequenceNumber != 1<<16+3 || b.TotalLost != 0 || b.FractionLost != 0 || b.Jitter != 0 || b.LastSenderReport != 0 || b.Delay != 0 {
		t.Fatalf("first report %+v", b)
	}
	if _, ok := s.report(7, at.Add(150*time.Millisecond)); ok {
		t.Fatal("a report about a stream that received nothing since its last")
	}
	// 4 of the next 8 packets lost, one late by 9 ms (810 ticks); a sender
	// report half a second before the report.
	for _, i := range []int{10, 12, 14, 17} {
		late := time.Duration(0)
		if i == 14 {
			late = 9 * time.Millisecond
		}
		s.add(uint16(65530+i), uint32(i*900), at.Add(time.Duration(i)*10*time.Millisecond+late))
	}
	s.senderReport(0x12345678, at.Add(200*time.Millisecond))
	b, ok = s.report(7, at.Add(700*time.Millisecond))
	if !ok || b.LastSequenceNumber != 1<<16+11 || b.TotalLost != 4 || b.FractionLost != 4*256/8 {
		t.Fatalf("report after losses %+v, want highest %d, 4 lost, fraction %d", b, 1<<16+11, 4*256/8)
	}
	if b.Jitter == 0 || b.Jitter > 810 {
		t.Fatalf("jitter %d after a packet 810 ticks late, want some and less", b.Jitter)
	}
	if b.LastSenderReport != 0x12345678 || b.Delay != 65536/2 {
		t.Fatalf("last sender report %#x, delay %d, want 0x12345678 and %d", b.LastSenderReport, b.Delay, 65536/2)
	}
}

// TestReceiverReportsOnTheTick checks that a connection's receiver
// reports go out on the engine's tick once a second, in one report for
// its streams, about the streams that received something since their
// last only, and refer to the publisher's sender reports.
func TestReceiverReportsOnTheTick(t *testing.T) {
	ticks := newTicker(nil)
	ticks.stop() // the test ticks
	i, err := (&reportsFactory{ticks: ticks}).NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	r := i.(*receiverReports)
	var written []*rtcp.ReceiverReport
	i.BindRTCPWriter(interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, _ interceptor.Attributes) (int, error) {
		for _, p := range pkts {
			written = append(written, p.(*rtcp.ReceiverReport))
		}
		return len(pkts), nil
	}))
	defer i.Close()
	var readers []interceptor.RTPReader
	for _, ssrc := range []uint32{10, 11} {
		seq := uint16(0)
		readers = append(readers, i.BindRemoteStream(&interceptor.StreamInfo{SSRC: ssrc, ClockRate: 90000},
			interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
				seq++
				p := rtp.Packet{Header: rtp.Header{Version: 2, SSRC: ssrc, SequenceNumber: seq}, Payload: []byte{1}}
				n, err := p.MarshalTo(b)
				return n, a, err
			})))
	}
	read := func(streams ...int) {
		for _, s := range streams {
			if _, _, err := readers[s].Read(make([]byte, 100), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	blocks := func() map[uint32]rtcp.ReceptionReport {
		got := map[uint32]rtcp.ReceptionReport{}
		for _, rr := range written {
			for _, b := range rr.Reports {
				got[b.SSRC] = b
			}
		}
		written = nil
		return got
	}

	// A sender report of stream 10, in a compound packet after a receiver
	// report.
	sr := &rtcp.SenderReport{SSRC: 10, NTPTime: 0xaaaa_1234_5678_bbbb}
	compound, err := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: 99}, sr})
	if err != nil {
		t.Fatal(err)
	}
	rtcpIn := i.BindRTCPReader(interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		return copy(b, compound), a, nil
	}))
	if _, _, err := rtcpIn.Read(make([]byte, 1500), nil); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	r.tick(start) // nothing received yet
	if len(written) != 0 {
		t.Fatalf("%d reports before any packet", len(written))
	}
	read(0, 0, 1)
	r.tick(start.Add(reportInterval))
	if len(written) != 1 {
		t.Fatalf("%d reports, want one for both streams", len(written))
	}
	got := blocks()
	if len(got) != 2 || got[10].LastSequenceNumber != 2 || got[11].LastSequenceNumber != 1 {
		t.Fatalf("blocks %+v", got)
	}
	if got[10].LastSenderReport != 0x1234_5678 || got[11].LastSenderReport != 0 {
		t.Fatalf("last sender reports %#x %#x, want 0x12345678 and none", got[10].LastSenderReport, got[11].LastSenderReport)
	}
	read(1)
	r.tick(start.Add(reportInterval + tickInterval)) // not due yet
	if len(written) != 0 {
		t.Fatal("reports within a second of the last")
	}
	r.tick(start.Add(2 * reportInterval))
	if got := blocks(); len(got) != 1 || got[11].LastSequenceNumber != 2 {
		t.Fatalf("blocks %+v, want stream 11's only", got)
	}
	r.tick(start.Add(3 * reportInterval))
	if len(written) != 0 {
		t.Fatal("a report with nothing received since the last")
	}
	i.UnbindRemoteStream(&interceptor.StreamInfo{SSRC: 10})
	read(0, 1)
	r.tick(start.Add(4 * reportInterval))
	if got := blocks(); len(got) != 1 || got[11].SSRC != 11 {
		t.Fatalf("blocks %+v after stream 10 was unbound", got)
	}
}

// TestSenderReportsOfBadRTCP checks that RTCP too short for its length
// field is skipped.
func TestSenderReportsOfBadRTCP(t *testing.T) {
	r := &receiverReports{streams: map[uint32]*receptionStats{10: {}}}
	b := make([]byte, 28)
	b[0], b[1] = 2<<6, byte(rtcp.TypeSenderReport)
	binary.BigEndian.PutUint16(b[2:4], 100) // longer than b
	binary.BigEndian.PutUint32(b[4:8], 10)
	r.senderReports(b, time.Now())
	r.senderReports(b[:3], time.Now())
	if r.streams[10].lastSR != 0 {
		t.Fatal("a sender report read past the packet")
	}
}

// BenchmarkReceptionStats measures what a receiver report's statistics
// cost each packet a publisher sends (no allocation).
func BenchmarkReceptionStats(b *testing.B) {
	s := &receptionStats{clockRate: 90000}
	now := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.add(uint16(i), uint32(i*300), now.Add(time.Duration(i)*time.Millisecond))
	}
}
