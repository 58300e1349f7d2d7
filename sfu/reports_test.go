package sfu

import (
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// TestQuietReportsDropped checks that a receiver report block about a
// stream that received nothing since its last block is not written, and
// that a report with no block left is not written at all.
func TestQuietReportsDropped(t *testing.T) {
	i, err := quietReportsFactory{}.NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	var written []rtcp.Packet
	w := i.BindRTCPWriter(interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, _ interceptor.Attributes) (int, error) {
		written = append(written, pkts...)
		return len(pkts), nil
	}))
	report := func(seqs ...uint32) {
		t.Helper()
		rr := &rtcp.ReceiverReport{SSRC: 1}
		for n, seq := range seqs {
			rr.Reports = append(rr.Reports, rtcp.ReceptionReport{SSRC: uint32(10 + n), LastSequenceNumber: seq})
		}
		written = nil
		if _, err := w.Write([]rtcp.Packet{rr, &rtcp.PictureLossIndication{MediaSSRC: 10}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	blocks := func() []uint32 {
		var ssrcs []uint32
		for _, p := range written {
			if rr, ok := p.(*rtcp.ReceiverReport); ok {
				for _, b := range rr.Reports {
					ssrcs = append(ssrcs, b.SSRC)
				}
			}
		}
		return ssrcs
	}
	report(100, 200)
	if got := blocks(); len(got) != 2 {
		t.Fatalf("first report: blocks for %v, want both streams", got)
	}
	report(100, 201) // stream 10 received nothing
	if got := blocks(); len(got) != 1 || got[0] != 11 {
		t.Fatalf("blocks for %v, want stream 11 only", got)
	}
	report(100, 201)
	if got := blocks(); len(got) != 0 || len(written) != 1 {
		t.Fatalf("nothing received: blocks for %v, %d packets written; want the PLI alone", got, len(written))
	}
}
