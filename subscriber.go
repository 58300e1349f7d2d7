package crossbar

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar/sfu"
)

// Subscriber is one subscription to a stream: a client connection's, fed
// over its subscribing peer connection, or the host's own, read in process
// (Session.Subscribe).
type Subscriber struct {
	stream *Stream
	conn   *Connection // nil for the host's subscribers

	mu           sync.Mutex
	audio, video *sfu.DownTrack // a connection's
	readers      map[webrtc.RTPCodecType]*sfu.Reader
	prefSize     Dimensions // preferred video resolution; zero: the highest
	prefFPS      float64    // preferred frame rate; zero: the highest
}

// SubscriberStats are a subscriber's counters, per track.
type SubscriberStats struct {
	Audio, Video sfu.DownTrackStats
}

// ErrNotReadable is returned by ReadRTP on a client connection's subscriber,
// whose packets go to the client.
var ErrNotReadable = errors.New("crossbar: subscriber is a client's; its packets go to the client")

// Stream returns the subscribed stream.
func (s *Subscriber) Stream() *Stream { return s.stream }

// Connection returns the subscribing connection, or nil for the host.
func (s *Subscriber) Connection() *Connection { return s.conn }

// Stats returns the subscriber's counters.
func (s *Subscriber) Stats() SubscriberStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st SubscriberStats
	if s.audio != nil {
		st.Audio = s.audio.Stats()
	}
	if s.video != nil {
		st.Video = s.video.Stats()
	}
	if r := s.readers[webrtc.RTPCodecTypeAudio]; r != nil {
		st.Audio = r.Stats()
	}
	if r := s.readers[webrtc.RTPCodecTypeVideo]; r != nil {
		st.Video = r.Stats()
	}
	return st
}

// ReadRTP returns the next packet of the host subscriber's audio or video
// track, rewritten to one continuous stream. It returns io.EOF once the
// stream or the subscription ended.
func (s *Subscriber) ReadRTP(ctx context.Context, kind webrtc.RTPCodecType) (*rtp.Packet, error) {
	s.mu.Lock()
	r := s.readers[kind]
	s.mu.Unlock()
	if s.conn != nil {
		return nil, ErrNotReadable
	}
	if r == nil {
		return nil, fmt.Errorf("crossbar: subscription to %s has no %s track", s.stream.id, kind)
	}
	return r.ReadRTP(ctx)
}

// SetPreferredResolution asks for the simulcast layer closest to, and at
// least, d (or the highest one if none is that large); a zero d asks for the
// highest. The subscriber still gets less when its bandwidth is short.
func (s *Subscriber) SetPreferredResolution(d Dimensions) {
	s.mu.Lock()
	s.prefSize = Dimensions{Width: max(d.Width, 0), Height: max(d.Height, 0)}
	s.mu.Unlock()
	s.applyPreferences()
}

// SetPreferredFrameRate asks for the fewest temporal layers (codecs that
// have them: VP8) that give at least fps frames a second; zero asks for all.
func (s *Subscriber) SetPreferredFrameRate(fps float64) {
	s.mu.Lock()
	s.prefFPS = max(fps, 0)
	s.mu.Unlock()
	s.applyPreferences()
}

// PreferredResolution and PreferredFrameRate return the preferences set.
func (s *Subscriber) PreferredResolution() Dimensions {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.prefSize
}

// PreferredFrameRate returns the preferred frame rate; zero: the highest.
func (s *Subscriber) PreferredFrameRate() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.prefFPS
}

// VideoLayer returns the simulcast layer the subscriber receives (0 the
// lowest), or -1 when it receives none (paused, video off for quality, or
// not started yet).
func (s *Subscriber) VideoLayer() int {
	s.mu.Lock()
	d := s.video
	s.mu.Unlock()
	if d == nil {
		return -1
	}
	return d.CurrentLayer()
}

// applyPreferences hands the preferences to the video DownTrack.
func (s *Subscriber) applyPreferences() {
	s.mu.Lock()
	d, size, fps := s.video, s.prefSize, s.prefFPS
	s.mu.Unlock()
	if d != nil {
		d.SetPreferredVideo(size.Width, size.Height, fps)
	}
}

// setPaused stops or resumes one kind of a client subscription
// (subscribeToAudio / subscribeToVideo).
func (s *Subscriber) setPaused(kind webrtc.RTPCodecType, paused bool) {
	s.mu.Lock()
	d := s.video
	if kind == webrtc.RTPCodecTypeAudio {
		d = s.audio
	}
	s.mu.Unlock()
	if d != nil {
		d.SetPaused(paused)
	}
}

// close ends the subscription's readers; a connection's copies go with its
// peer or with Unsubscribe.
func (s *Subscriber) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.readers {
		r.Close()
	}
}
