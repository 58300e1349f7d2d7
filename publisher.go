package crossbar

import (
	"fmt"
	"maps"
	"slices"
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

// VideoLayers describes the layers of the stream's video, lowest first: one
// per simulcast layer the publisher sends, or one for a plain video track;
// none without video.
func (p *Publisher) VideoLayers() []sfu.LayerInfo {
	if _, v := p.tracks(); v != nil {
		return v.Layers()
	}
	return nil
}

// AudioLevel returns the stream's audio level over the last 200 ms, between
// 0 and 1, from the audio level header extension of the publisher's packets
// (0 without audio or without the extension).
func (p *Publisher) AudioLevel() float64 {
	if a, _ := p.tracks(); a != nil {
		return a.AudioLevel()
	}
	return 0
}

// VideoCodec returns the MIME type of the stream's video, such as
// "video/VP8", or "" if it has none.
func (p *Publisher) VideoCodec() string {
	if _, v := p.tracks(); v != nil {
		return v.Codec().MimeType
	}
	return ""
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

// expect names the tracks, by mid, the publisher of a stream that moved
// here publishes again.
func (p *Publisher) expect(tracks map[string]webrtc.RTPCodecType) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.want = tracks
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
	if p == nil {
		return // a relayed stream: no media here
	}
	a, v := p.tracks()
	for _, t := range []*sfu.Track{a, v} {
		if t != nil {
			t.Close()
		}
	}
}

// setAudioMuted stops or resumes the stream's audio for every subscriber.
func (p *Publisher) setAudioMuted(muted bool) {
	if p == nil {
		return // a relayed stream: its publisher's client mutes itself
	}
	if a, _ := p.tracks(); a != nil {
		a.SetMuted(muted)
	}
}

// PublishOptions describe a stream the host publishes from Go (a bot playing
// a file, say). A zero codec means no track of that kind.
type PublishOptions struct {
	Name           string
	ConnectionData string // the data of the stream's in-process connection
	Audio          webrtc.RTPCodecCapability
	Video          webrtc.RTPCodecCapability
	VideoType      VideoType // default camera
	Dimensions     Dimensions
}

// Publish publishes a stream from Go into a routed session. The stream
// belongs to an in-process connection of its own, which clients see come and
// go with the stream. Feed it with WriteRTP; end it with Unpublish.
func (s *Session) Publish(opts PublishOptions) (*Publisher, error) {
	if err := s.routed(); err != nil {
		return nil, err
	}
	if opts.Audio.MimeType == "" && opts.Video.MimeType == "" {
		return nil, fmt.Errorf("%w: publish needs an audio or a video codec", ErrInvalidOption)
	}
	if len(opts.ConnectionData) > MaxConnectionData {
		return nil, fmt.Errorf("%w: connection data is %d bytes, at most %d", ErrInvalidOption, len(opts.ConnectionData), MaxConnectionData)
	}
	c, err := s.joinInProcess(opts.ConnectionData)
	if err != nil {
		return nil, err
	}
	st, err := newStream(c, streamSpec{
		name:       opts.Name,
		hasAudio:   opts.Audio.MimeType != "",
		hasVideo:   opts.Video.MimeType != "",
		videoType:  opts.VideoType,
		dimensions: opts.Dimensions,
	})
	if err != nil {
		_ = s.disconnect(c.id, ReasonClientDisconnected) // its own: it cannot be gone
		return nil, fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	st.pub = &Publisher{stream: st}
	if opts.Audio.MimeType != "" {
		st.pub.audio = sfu.NewLocalTrack(st.id+"-audio", opts.Audio)
	}
	if opts.Video.MimeType != "" {
		st.pub.video = sfu.NewLocalTrack(st.id+"-video", opts.Video)
	}
	s.mu.Lock()
	defer s.unlock()
	s.addStreamLocked(st)
	return st.pub, nil
}

// OnKeyframeRequest sets the function called when a subscriber of a stream
// the host publishes needs a video keyframe (requests are already merged and
// throttled). It must not block.
func (p *Publisher) OnKeyframeRequest(f func()) {
	if _, v := p.tracks(); v != nil {
		v.OnKeyframeRequest(f)
	}
}

// Unpublish ends a stream the host publishes, and its in-process
// connection (reason clientUnpublished, then clientDisconnected).
func (p *Publisher) Unpublish() error {
	s := p.stream.connection.session
	s.mu.Lock()
	defer s.unlock()
	c := p.stream.connection
	if !c.inProcess {
		return fmt.Errorf("%w: stream %s is published by a client", ErrBadRequest, p.stream.id)
	}
	s.removeStreamLocked(p.stream, ReasonClientUnpublished)
	s.removeLocked(c, ReasonClientDisconnected)
	return nil
}

// publishRequest is a client's "publish": its stream, and the offer of its
// publishing peer connection with the kind of each track by mid. streamID
// names a stream of the connection that moved here, published again.
type publishRequest struct {
	stream   streamSpec
	sdp      string
	tracks   map[string]webrtc.RTPCodecType
	streamID string
}

// publish adds a client's stream. In a routed session the offer goes to
// the client's publishing peer; the stream is announced when its tracks
// arrive. It returns the stream id and the engine's answer, none for a
// stream announced at once: a relayed session's, or a signal-only one.
func (s *Session) publish(c *Connection, r publishRequest) (streamID, answer string, err error) {
	signalOnly := r.sdp == "" && len(r.tracks) == 0 && r.streamID == "" && s.srv.cfg.SignalOnlyStreams
	if s.info.MediaMode == Relayed || signalOnly {
		id, err := s.publishWithoutMedia(c, r.stream)
		return id, "", err
	}
	if r.sdp == "" || len(r.tracks) == 0 || len(r.tracks) > 2 {
		return "", "", fmt.Errorf("%w: publish needs sdp and one or two tracks", ErrBadRequest)
	}
	peer, err := s.peerOf(c)
	if err != nil {
		return "", "", err
	}
	var st *Stream
	s.mu.Lock()
	if r.streamID != "" {
		st, err = s.movedStreamLocked(c, r.streamID)
	} else {
		st, err = newStream(c, r.stream)
		if err == nil {
			st.pub = &Publisher{stream: st, want: r.tracks}
			err = s.checkStreamLimitLocked(c)
		}
	}
	if err != nil {
		s.unlock()
		return "", "", err
	}
	if st.moved {
		st.pub.expect(r.tracks)
	}
	for mid := range r.tracks {
		if c.media.pending[mid] != nil {
			s.unlock()
			return "", "", fmt.Errorf("%w: mid %q is already being published", ErrBadRequest, mid)
		}
	}
	if c.media.pending == nil {
		c.media.pending = map[string]*Stream{}
	}
	for mid := range r.tracks {
		c.media.pending[mid] = st
	}
	s.unlock()
	answer, err = peer.Publish(r.sdp)
	if err != nil {
		s.mu.Lock()
		s.forgetPendingLocked(c, st)
		s.unlock()
		return "", "", withCause(fmt.Errorf("%w: the offer could not be applied", ErrBadRequest), err)
	}
	return st.id, answer, nil
}

// movedStreamLocked returns the stream id names, which c publishes and
// whose tracks are to come since c moved here.
func (s *Session) movedStreamLocked(c *Connection, id string) (*Stream, error) {
	st, err := s.ownStreamLocked(c, id)
	if err != nil {
		return nil, err
	}
	if !st.moved || slices.Contains(slices.Collect(maps.Values(c.media.pending)), st) {
		return nil, fmt.Errorf("%w: stream %q is published already", ErrBadRequest, id)
	}
	return st, nil
}

// checkStreamLimitLocked refuses a new stream of c beyond the limit; streams
// whose tracks have not all arrived count too.
func (s *Session) checkStreamLimitLocked(c *Connection) error {
	n := 0
	for _, st := range s.streams {
		if st.connection == c {
			n++
		}
	}
	pending := map[*Stream]bool{}
	for _, st := range c.media.pending {
		pending[st] = true
	}
	n += len(pending)
	if max := s.srv.cfg.MaxStreamsPerConnection; n >= max {
		return fmt.Errorf("%w: connection %s publishes %d streams", ErrStreamLimit, c.id, n)
	}
	return nil
}

func (s *Session) forgetPendingLocked(c *Connection, st *Stream) {
	for mid, p := range c.media.pending {
		if p == st {
			delete(c.media.pending, mid)
		}
	}
}

// republish applies a client's re-offer on its publishing peer connection
// and returns the engine's answer.
func (s *Session) republish(c *Connection, sdp string) (string, error) {
	if err := s.routed(); err != nil {
		return "", err
	}
	if sdp == "" {
		return "", fmt.Errorf("%w: offer without sdp", ErrBadRequest)
	}
	peer, err := s.peerOf(c)
	if err != nil {
		return "", err
	}
	answer, err := peer.Publish(sdp)
	if err != nil {
		return "", withCause(fmt.Errorf("%w: the offer could not be applied", ErrBadRequest), err)
	}
	return answer, nil
}

// unpublish ends a stream c publishes.
func (s *Session) unpublish(c *Connection, streamID string) error {
	s.mu.Lock()
	defer s.unlock()
	st, err := s.ownStreamLocked(c, streamID)
	if err != nil {
		return err
	}
	s.removeStreamLocked(st, ReasonClientUnpublished)
	return nil
}

// ownStreamLocked returns the stream id names if c publishes it.
func (s *Session) ownStreamLocked(c *Connection, id string) (*Stream, error) {
	st, err := s.streamLocked(id)
	if err != nil {
		return nil, err
	}
	if st.connection != c {
		return nil, fmt.Errorf("%w: stream %q is not this connection's", ErrBadRequest, id)
	}
	return st, nil
}
