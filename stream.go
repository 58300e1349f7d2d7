package crossbar

import (
	"fmt"
	"time"

	"github.com/crossbar-rtc/crossbar/signaling"
)

// VideoType says what a stream's video shows.
type VideoType string

// Video types. A stream without video has none.
const (
	VideoCamera VideoType = "camera"
	VideoScreen VideoType = "screen"
	VideoCustom VideoType = "custom"
)

// Dimensions is a video size in pixels.
type Dimensions struct {
	Width, Height int
}

// MaxStreamName is the longest stream name, in bytes.
const MaxStreamName = 1000

// Stream is one published audio/video signal in a session.
type Stream struct {
	id         string
	connection *Connection
	created    time.Time
	name       string
	videoType  VideoType

	pub *Publisher // nil in relayed sessions

	// Guarded by session.mu.
	hasAudio, hasVideo bool
	dimensions         Dimensions
	forceMuted         bool
	gone               bool
}

// newStream makes a stream of c from what its client announced.
func newStream(c *Connection, d *signaling.Stream) (*Stream, error) {
	if len(d.Name) > MaxStreamName {
		return nil, fmt.Errorf("%w: stream name is %d bytes, at most %d", ErrBadRequest, len(d.Name), MaxStreamName)
	}
	vt := VideoType(d.VideoType)
	switch {
	case !d.HasVideo:
		vt = ""
	case vt == "":
		vt = VideoCamera
	case vt != VideoCamera && vt != VideoScreen && vt != VideoCustom:
		return nil, fmt.Errorf("%w: video type %q", ErrBadRequest, d.VideoType)
	}
	st := &Stream{
		id:         newID(),
		connection: c,
		created:    time.Now(),
		name:       d.Name,
		videoType:  vt,
		hasAudio:   d.HasAudio,
		hasVideo:   d.HasVideo,
	}
	if v := d.VideoDimensions; v != nil && v.Width > 0 && v.Height > 0 && v.Width <= 16384 && v.Height <= 16384 {
		st.dimensions = Dimensions{Width: v.Width, Height: v.Height}
	}
	return st, nil
}

// Publisher returns the stream's media in the forwarding engine, or nil in
// a relayed session.
func (s *Stream) Publisher() *Publisher { return s.pub }

// Subscribers returns the stream's subscriptions by client connections.
func (s *Stream) Subscribers() []*Subscriber {
	sess := s.connection.session
	sess.mu.Lock()
	defer sess.unlock()
	var list []*Subscriber
	for _, c := range sess.connectionsLocked() {
		if sub := c.media.subs[s.id]; sub != nil {
			list = append(list, sub)
		}
	}
	return list
}

// ID returns the stream id.
func (s *Stream) ID() string { return s.id }

// Connection returns the connection that publishes the stream.
func (s *Stream) Connection() *Connection { return s.connection }

// CreationTime returns when the stream was published.
func (s *Stream) CreationTime() time.Time { return s.created }

// Name returns the name the publisher gave the stream.
func (s *Stream) Name() string { return s.name }

// VideoType returns the kind of video, or "" for an audio-only stream.
func (s *Stream) VideoType() VideoType { return s.videoType }

// HasAudio reports whether the stream currently sends audio.
func (s *Stream) HasAudio() bool {
	s.connection.session.mu.Lock()
	defer s.connection.session.mu.Unlock()
	return s.hasAudio
}

// HasVideo reports whether the stream currently sends video.
func (s *Stream) HasVideo() bool {
	s.connection.session.mu.Lock()
	defer s.connection.session.mu.Unlock()
	return s.hasVideo
}

// VideoDimensions returns the encoded video size.
func (s *Stream) VideoDimensions() Dimensions {
	s.connection.session.mu.Lock()
	defer s.connection.session.mu.Unlock()
	return s.dimensions
}

// describe must be called with the session lock held.
func (s *Stream) describe() signaling.Stream {
	d := signaling.Stream{
		ID:           s.id,
		ConnectionID: s.connection.id,
		CreationTime: s.created.UnixMilli(),
		Name:         s.name,
		HasAudio:     s.hasAudio,
		HasVideo:     s.hasVideo,
		VideoType:    string(s.videoType),
	}
	if s.dimensions != (Dimensions{}) {
		d.VideoDimensions = &signaling.Dimensions{Width: s.dimensions.Width, Height: s.dimensions.Height}
	}
	return d
}
