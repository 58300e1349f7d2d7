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
