package crossbar

import (
	"fmt"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar/sfu"
)

// Publisher is the media side of a routed stream: the stream's audio and
// video tracks in the forwarding engine. Streams of relayed sessions have
// none.
type Publisher struct {
	stream *Stream

	mu    sync.Mutex
	want  map[string]webrtc.RTPCodecType // mids whose track has not arrived yet
	audio *sfu.Track
	video *sfu.Track
}

// PublisherStats are a publisher's counters, per track; a missing track's
// are zero.
type PublisherStats struct {
	Audio, Video sfu.TrackStats
}

// Stream returns the published stream.
func (p *Publisher) Stream() *Stream { return p.stream }

// Stats returns the publisher's counters.
func (p *Publisher) Stats() PublisherStats {
	var st PublisherStats
	a, v := p.tracks()
	if a != nil {
		st.Audio = a.Stats()
	}
	if v != nil {
		st.Video = v.Stats()
	}
	return st
}

// WriteRTP sends a packet on a stream the host publishes from Go (see
// Session.Publish). kind says which track; the packet is copied.
func (p *Publisher) WriteRTP(kind webrtc.RTPCodecType, pkt *rtp.Packet) error {
	t := p.track(kind)
	if t == nil {
		return fmt.Errorf("crossbar: stream %s has no %s track", p.stream.id, kind)
	}
	return t.WriteRTP(pkt)
}

func (p *Publisher) tracks() (audio, video *sfu.Track) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.audio, p.video
}

func (p *Publisher) track(kind webrtc.RTPCodecType) *sfu.Track {
	a, v := p.tracks()
	if kind == webrtc.RTPCodecTypeAudio {
		return a
	}
	return v
}

// attach records a track that arrived, and reports whether every track
// the publisher announced is now here.
func (p *Publisher) attach(t *sfu.Track) (complete bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.want, t.Mid())
	if t.Kind() == webrtc.RTPCodecTypeAudio {
		p.audio = t
	} else {
		p.video = t
	}
	return len(p.want) == 0
}

// close ends the stream's tracks; their subscribers' copies go with them.
// It must not be called with the session lock held.
func (p *Publisher) close() {
	a, v := p.tracks()
	for _, t := range []*sfu.Track{a, v} {
		if t != nil {
			t.Close()
		}
	}
}

// setAudioMuted stops or resumes the stream's audio for every subscriber.
func (p *Publisher) setAudioMuted(muted bool) {
	if a, _ := p.tracks(); a != nil {
		a.SetMuted(muted)
	}
}
