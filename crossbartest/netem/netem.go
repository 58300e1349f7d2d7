// Package netem impairs the RTP that Pion peer connections send, as a bad
// network would: loss, latency and a bandwidth cap. A Shaper is an
// interceptor.Factory: add it to a client's peer connections
// (client.MediaOptions.Interceptors, or crossbartest.WithNetwork) to
// impair what a participant sends, or to the server's
// (crossbar.Config.Media.Interceptors) with the SSRCs of one
// subscriber's tracks to impair what it receives.
package netem

import (
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// DefaultMaxDelay is how long a packet may queue behind a bandwidth cap
// unless Conditions.MaxDelay says otherwise.
const DefaultMaxDelay = 500 * time.Millisecond

// Conditions are the impairments of a Shaper. The zero value impairs
// nothing.
type Conditions struct {
	// Loss is the share of packets dropped, from 0 to 1, at random.
	Loss float64
	// Latency delays every packet that is not dropped.
	Latency time.Duration
	// Rate caps what is sent, in bits a second, IP and UDP headers
	// included: packets leave one after the other at that rate, and are
	// dropped when they would queue longer than MaxDelay. 0: no cap.
	Rate int
	// MaxDelay bounds the queue behind Rate; 0 means DefaultMaxDelay.
	MaxDelay time.Duration
	// SSRCs limits the impairments to the packets of these streams; nil
	// impairs every packet.
	SSRCs []uint32
}

// Shaper impairs the RTP of the peer connections it is added to, under
// Conditions that Set changes at any time. Its zero value impairs
// nothing. A Shaper delays packets on timers: Wait for them before a test
// ends.
type Shaper struct {
	mu   sync.Mutex
	cond Conditions
	busy time.Time // when the cap's queue is empty
	wg   sync.WaitGroup
}

// Set changes the impairments from the next packet on.
func (s *Shaper) Set(c Conditions) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.MaxDelay <= 0 {
		c.MaxDelay = DefaultMaxDelay
	}
	c.SSRCs = slices.Clone(c.SSRCs)
	s.cond = c
}

// Wait waits for the packets still delayed.
func (s *Shaper) Wait() { s.wg.Wait() }

// NewInterceptor implements interceptor.Factory.
func (s *Shaper) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &shaped{s: s}, nil
}

// shaped is a Shaper's interceptor on one peer connection.
type shaped struct {
	interceptor.NoOp
	s *Shaper
}

// udpOverhead is the IP and UDP headers of a packet, which count in Rate.
const udpOverhead = 28

// BindLocalStream impairs a stream's outgoing packets.
func (c *shaped) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	s := c.s
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		size := h.MarshalSize() + len(payload)
		delay, send := s.admit(info.SSRC, size+udpOverhead)
		switch {
		case !send:
			return size, nil // lost
		case delay <= 0:
			return w.Write(h, payload, a)
		}
		hdr := h.Clone()
		body := append([]byte(nil), payload...)
		time.AfterFunc(delay, func() {
			defer s.wg.Done()
			_, _ = w.Write(&hdr, body, nil) // the peer connection may have closed meanwhile
		})
		return size, nil
	})
}

// admit decides for a packet of size bytes of stream ssrc: whether it is
// sent, and after what delay. A delayed packet is counted in wg.
func (s *Shaper) admit(ssrc uint32, size int) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cond
	if c.SSRCs != nil && !slices.Contains(c.SSRCs, ssrc) {
		return 0, true
	}
	if c.Loss > 0 && rand.Float64() < c.Loss {
		return 0, false
	}
	delay := c.Latency
	if c.Rate > 0 {
		now := time.Now()
		leave := now
		if s.busy.After(now) {
			leave = s.busy
		}
		leave = leave.Add(time.Duration(size*8) * time.Second / time.Duration(c.Rate))
		if leave.Sub(now) > c.MaxDelay {
			return 0, false
		}
		s.busy = leave
		delay += leave.Sub(now)
	}
	if delay > 0 {
		s.wg.Add(1)
	}
	return delay, true
}
