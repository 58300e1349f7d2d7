package sfu

import (
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// quietReportsFactory makes the interceptor that keeps a publishing
// connection's receiver reports (Pion's report.ReceiverInterceptor, one a
// second for each stream) about streams that received nothing since their
// last report from the network. Such a report tells the publisher nothing
// new, and on an idle connection these reports were most of what the
// engine sent (an SRTCP packet for each stream every second). It sits
// just before the report interceptor, which writes through it.
type quietReportsFactory struct{}

// NewInterceptor makes the filter of one connection.
func (quietReportsFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &quietReports{last: map[uint32]uint32{}}, nil
}

// quietReports drops the report blocks whose stream's highest sequence
// number did not change since the block last sent for it.
type quietReports struct {
	interceptor.NoOp
	mu   sync.Mutex
	last map[uint32]uint32 // highest (extended) sequence number last reported, by SSRC
}

// BindRTCPWriter filters what is written after it.
func (q *quietReports) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, a interceptor.Attributes) (int, error) {
		pkts = q.filter(pkts)
		if len(pkts) == 0 {
			return 0, nil
		}
		return w.Write(pkts, a)
	})
}

// UnbindRemoteStream forgets a stream.
func (q *quietReports) UnbindRemoteStream(info *interceptor.StreamInfo) {
	q.mu.Lock()
	delete(q.last, info.SSRC)
	q.mu.Unlock()
}

// filter returns pkts without the quiet streams' report blocks, and
// without receiver reports left with none.
func (q *quietReports) filter(pkts []rtcp.Packet) []rtcp.Packet {
	q.mu.Lock()
	defer q.mu.Unlock()
	kept := pkts[:0]
	for _, pkt := range pkts {
		rr, ok := pkt.(*rtcp.ReceiverReport)
		if !ok {
			kept = append(kept, pkt)
			continue
		}
		blocks := rr.Reports[:0]
		for _, b := range rr.Reports {
			if last, ok := q.last[b.SSRC]; ok && last == b.LastSequenceNumber {
				continue
			}
			q.last[b.SSRC] = b.LastSequenceNumber
			blocks = append(blocks, b)
		}
		if rr.Reports = blocks; len(blocks) > 0 {
			kept = append(kept, rr)
		}
	}
	return kept
}
