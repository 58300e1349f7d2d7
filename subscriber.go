package crossbar

import (
	"context"
	"fmt"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar/sfu"
	"github.com/crossbar-rtc/crossbar/signaling"
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

// Stream returns the subscribed stream.
func (sub *Subscriber) Stream() *Stream { return sub.stream }

// Connection returns the subscribing connection, or nil for the host.
func (sub *Subscriber) Connection() *Connection { return sub.conn }

// carries reports whether d is one of the subscription's tracks.
func (sub *Subscriber) carries(d *sfu.DownTrack) bool {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return d != nil && (sub.audio == d || sub.video == d)
}

// Stats returns the subscriber's counters.
func (sub *Subscriber) Stats() SubscriberStats {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	var st SubscriberStats
	if sub.audio != nil {
		st.Audio = sub.audio.Stats()
	}
	if sub.video != nil {
		st.Video = sub.video.Stats()
	}
	if r := sub.readers[webrtc.RTPCodecTypeAudio]; r != nil {
		st.Audio = r.Stats()
	}
	if r := sub.readers[webrtc.RTPCodecTypeVideo]; r != nil {
		st.Video = r.Stats()
	}
	return st
}

// ReadRTP returns the next packet of the host subscriber's audio or video
// track, rewritten to one continuous stream. It returns io.EOF once the
// stream or the subscription ended.
func (sub *Subscriber) ReadRTP(ctx context.Context, kind webrtc.RTPCodecType) (*rtp.Packet, error) {
	sub.mu.Lock()
	r := sub.readers[kind]
	sub.mu.Unlock()
	if sub.conn != nil {
		return nil, ErrNotReadable
	}
	if r == nil {
		return nil, fmt.Errorf("crossbar: subscription to %s has no %s track", sub.stream.id, kind)
	}
	return r.ReadRTP(ctx)
}

// SetPreferredResolution asks for the simulcast layer closest to, and at
// least, d (or the highest one if none is that large); a zero d asks for the
// highest. The subscriber still gets less when its bandwidth is short.
func (sub *Subscriber) SetPreferredResolution(d Dimensions) {
	sub.mu.Lock()
	sub.prefSize = Dimensions{Width: max(d.Width, 0), Height: max(d.Height, 0)}
	sub.mu.Unlock()
	sub.applyPreferences()
}

// SetPreferredFrameRate asks for the fewest temporal layers (codecs that
// have them: VP8) that give at least fps frames a second; zero asks for all.
func (sub *Subscriber) SetPreferredFrameRate(fps float64) {
	sub.mu.Lock()
	sub.prefFPS = max(fps, 0)
	sub.mu.Unlock()
	sub.applyPreferences()
}

// PreferredResolution and PreferredFrameRate return the preferences set.
func (sub *Subscriber) PreferredResolution() Dimensions {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.prefSize
}

// PreferredFrameRate returns the preferred frame rate; zero: the highest.
func (sub *Subscriber) PreferredFrameRate() float64 {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.prefFPS
}

// VideoLayer returns the simulcast layer the subscriber receives (0 the
// lowest), or -1 when it receives none (paused, video off for quality, or
// not started yet).
func (sub *Subscriber) VideoLayer() int {
	sub.mu.Lock()
	d := sub.video
	sub.mu.Unlock()
	if d == nil {
		return -1
	}
	return d.CurrentLayer()
}

// applyPreferences hands the preferences to the video DownTrack.
func (sub *Subscriber) applyPreferences() {
	sub.mu.Lock()
	d, size, fps := sub.video, sub.prefSize, sub.prefFPS
	sub.mu.Unlock()
	if d != nil {
		d.SetPreferredVideo(size.Width, size.Height, fps)
	}
}

// setPaused stops or resumes one kind of a client subscription
// (subscribeToAudio / subscribeToVideo).
func (sub *Subscriber) setPaused(kind webrtc.RTPCodecType, paused bool) {
	sub.mu.Lock()
	d := sub.video
	if kind == webrtc.RTPCodecTypeAudio {
		d = sub.audio
	}
	sub.mu.Unlock()
	if d != nil {
		d.SetPaused(paused)
	}
}

// Close ends the subscription: the host's readers, or a client
// connection's copies (the client sees its subscriber destroyed).
func (sub *Subscriber) Close() error {
	if sub.conn == nil {
		sub.close()
		return nil
	}
	return sub.conn.session.unsubscribe(sub.conn, &signaling.Message{StreamID: sub.stream.id})
}

// close ends the subscription's readers; a connection's copies go with its
// peer or with Close.
func (sub *Subscriber) close() {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	for _, r := range sub.readers {
		r.Close()
	}
}
