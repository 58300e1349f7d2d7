package sfu

import (
	"math/bits"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v3"
)

// readRTCP handles the subscriber's RTCP for this DownTrack until the
// sender stops: keyframe requests go to the publisher (throttled by the
// Track), NACKs are answered from the Track's cache, receiver reports feed
// the statistics.
func (d *DownTrack) readRTCP(s *webrtc.RTPSender) {
	buf := make([]byte, maxPacket)
	for {
		n, _, err := s.Read(buf)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		d.handleRTCP(pkts, time.Now())
	}
}

func (d *DownTrack) handleRTCP(pkts []rtcp.Packet, now time.Time) {
	for _, pkt := range pkts {
		switch p := pkt.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			d.plisReceived.Add(1)
			d.mu.Lock()
			layer := d.sel.current
			if layer < 0 {
				layer = max(d.sel.target, 0)
			}
			d.mu.Unlock()
			if d.track.scalable() {
				layer = 0 // the spatial layers are one stream
			}
			d.track.requestLayerKeyframes(1 << layer)
		case *rtcp.TransportLayerNack:
			d.answerNACK(p, now)
		case *rtcp.ReceiverEstimatedMaximumBitrate:
			if d.video {
				d.onREMB(uint64(p.Bitrate))
			}
		case *rtcp.ReceiverReport:
			d.receptionReports(p.Reports, now)
		case *rtcp.SenderReport:
			d.receptionReports(p.Reports, now)
		}
	}
}

// answerNACK queues retransmissions of the packets a subscriber lost,
// mapping its sequence numbers back to the Track's. To keep retransmissions
// from multiplying when capacity is short, it answers a sequence number at
// most once per round-trip time (nackDefaultInterval until the RTT is
// known), and not at all while the subscriber's queue is more than half full.
func (d *DownTrack) answerNACK(p *rtcp.TransportLayerNack, now time.Time) {
	interval := time.Duration(d.rtt.Load())
	if interval <= 0 {
		interval = nackDefaultInterval
	}
	at := now.UnixNano()
	var received, held, answered, skipped uint64
	scalable := d.track.scalable()
	d.mu.Lock()
	for _, pair := range p.Nacks {
		pair.Range(func(seq uint16) bool {
			received++
			src, tsDelta, ok := d.rw.source(seq)
			if scalable {
				src, tsDelta, ok = d.rw.sourceRecent(seq)
			}
			if !ok || d.sel.last < 0 {
				return true
			}
			l := d.track.layer(uint8(d.sel.last))
			if l == nil {
				return true
			}
			ext, ok := l.cache.extend(src)
			if !ok || !l.cache.contains(ext) {
				return true
			}
			held++
			if d.q.size*2 > len(d.q.entries) || d.nacks.recent(seq, at, int64(interval)) {
				skipped++
				return true
			}
			e := queueEntry{ext: ext, seq: seq, tsDelta: tsDelta, layer: uint8(d.sel.last), picDelta: d.vp8.picDelta, tl0Delta: d.vp8.tl0Delta}
			if scalable {
				e.top = uint8(d.sel.current) + 1
			}
			if d.q.push(e) {
				d.nacks.record(seq, at)
				answered++
			}
			return true
		})
	}
	d.mu.Unlock()
	d.nacksReceived.Add(received)
	d.nacksHeld.Add(held)
	d.nacksAnswered.Add(answered)
	d.nacksSkipped.Add(skipped)
	if answered > 0 {
		d.send()
	}
}

// nackDefaultInterval is how long a DownTrack waits before answering a NACK
// for the same packet again while the subscriber's RTT is unknown.
const nackDefaultInterval = 100 * time.Millisecond

// nackLogSize is how many recent retransmissions a nackLog remembers.
const nackLogSize = 256

// retransmission records when an output sequence number was last resent.
type retransmission struct {
	at  int64 // ns; 0 for none
	seq uint16
}

// nackLog remembers a subscriber's recent retransmissions by output
// sequence number. It is allocated at the first NACK answered, as most
// subscribers never lose a packet. It is not synchronized.
type nackLog []retransmission

// recent reports whether seq was retransmitted less than interval ns before now.
func (l nackLog) recent(seq uint16, now, interval int64) bool {
	if l == nil {
		return false
	}
	r := l[seq%nackLogSize]
	return r.at != 0 && r.seq == seq && now-r.at < interval
}

// record notes that seq was retransmitted at now (ns).
func (l *nackLog) record(seq uint16, now int64) {
	if *l == nil {
		*l = make(nackLog, nackLogSize)
	}
	(*l)[seq%nackLogSize] = retransmission{at: now, seq: seq}
}

// receptionReports takes the subscriber's report about this DownTrack's SSRC.
func (d *DownTrack) receptionReports(reports []rtcp.ReceptionReport, now time.Time) {
	d.mu.Lock()
	ssrc := d.ssrc
	d.mu.Unlock()
	for _, r := range reports {
		if r.SSRC != ssrc {
			continue
		}
		d.fractionLost.Store(uint32(r.FractionLost))
		if d.video {
			d.onLoss(r.TotalLost, r.LastSequenceNumber)
		}
		d.packetsLost.Store(uint64(r.TotalLost))
		if rtt, ok := rttFromReport(r, now); ok {
			d.rtt.Store(int64(rtt))
		}
	}
}

// rttFromReport computes the round-trip time from a reception report's last
// sender report time and delay (RFC 3550 section 6.4.1).
func rttFromReport(r rtcp.ReceptionReport, now time.Time) (time.Duration, bool) {
	if r.LastSenderReport == 0 {
		return 0, false
	}
	rtt := int32(ntpMiddle(now) - r.LastSenderReport - r.Delay)
	if rtt < 0 {
		return 0, false
	}
	return rttDuration(int64(rtt)), true
}

// rttDuration converts a duration in 1/65536 s to time.Duration.
func rttDuration(units int64) time.Duration {
	return time.Duration(units * int64(time.Second) >> 16)
}

// ntpTime returns the 64-bit NTP timestamp of t.
func ntpTime(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800 // seconds from 1900 to 1970
	ns := t.UnixNano()
	sec := uint64(ns/int64(time.Second)) + ntpEpochOffset
	frac := uint64(ns%int64(time.Second)) << 32 / uint64(time.Second)
	return sec<<32 | frac
}

// ntpMiddle returns the middle 32 bits of the NTP timestamp of t.
func ntpMiddle(t time.Time) uint32 { return uint32(ntpTime(t) >> 16) }

// senderReportInterval is how often a DownTrack that sends media sends a
// sender report, which the subscriber's receiver reports refer to (giving
// the RTT) and which lets it synchronize audio and video.
const senderReportInterval = time.Second

// rtcpWriter is where a DownTrack sends its sender reports: the subscriber's
// DTLS transport.
type rtcpWriter interface {
	WriteRTCP([]rtcp.Packet) (int, error)
}

// sendSenderReport sends a sender report for the packet of RTP timestamp ts
// just written at now. The caller is in drain.
func (d *DownTrack) sendSenderReport(w rtcpWriter, ssrc uint32, now time.Time, ts uint32) {
	d.srAt = now.UnixNano()
	_, _ = w.WriteRTCP([]rtcp.Packet{&rtcp.SenderReport{
		SSRC:        ssrc,
		NTPTime:     ntpTime(now),
		RTPTime:     ts,
		PacketCount: d.srPackets,
		OctetCount:  d.srOctets,
	}})
}

// nackedCount returns how many sequence numbers a NACK pair requests.
func nackedCount(p rtcp.NackPair) uint64 {
	return 1 + uint64(bits.OnesCount16(uint16(p.LostPackets)))
}

// rtcpTap is an interceptor that shows a PeerConnection's outgoing RTCP
// (NACKs from the NACK generator, PLIs) to its Peer, for statistics. It must
// be the first interceptor of the chain so it sees what the others write.
type rtcpTap struct {
	interceptor.NoOp
	observe func([]rtcp.Packet)
}

// BindRTCPWriter wraps the connection's RTCP writer.
func (t *rtcpTap) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	if t.observe == nil {
		return w
	}
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, a interceptor.Attributes) (int, error) {
		t.observe(pkts)
		return w.Write(pkts, a)
	})
}

// tapFactory hands each new PeerConnection an rtcpTap with the observer set
// by the Engine just before creating it (under mu, as Pion builds the
// interceptors synchronously inside NewPeerConnection).
type tapFactory struct {
	mu   sync.Mutex
	next func([]rtcp.Packet)
}

// NewInterceptor implements interceptor.Factory.
func (f *tapFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &rtcpTap{observe: f.next}, nil
}
