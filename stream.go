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
func (st *Stream) Publisher() *Publisher { return st.pub }

// Subscribers returns the stream's subscriptions by client connections.
func (st *Stream) Subscribers() []*Subscriber {
	sess := st.connection.session
	sess.mu.Lock()
	defer sess.unlock()
	var list []*Subscriber
	for _, c := range sess.connectionsLocked() {
		if sub := c.media.subs[st.id]; sub != nil {
			list = append(list, sub)
		}
	}
	return list
}

// ID returns the stream id.
func (st *Stream) ID() string { return st.id }

// Connection returns the connection that publishes the stream.
func (st *Stream) Connection() *Connection { return st.connection }

// CreationTime returns when the stream was published.
func (st *Stream) CreationTime() time.Time { return st.created }

// Name returns the name the publisher gave the stream.
func (st *Stream) Name() string { return st.name }

// VideoType returns the kind of video, or "" for an audio-only stream.
func (st *Stream) VideoType() VideoType { return st.videoType }

// HasAudio reports whether the stream currently sends audio.
func (st *Stream) HasAudio() bool {
	st.connection.session.mu.Lock()
	defer st.connection.session.mu.Unlock()
	return st.hasAudio
}

// HasVideo reports whether the stream currently sends video.
func (st *Stream) HasVideo() bool {
	st.connection.session.mu.Lock()
	defer st.connection.session.mu.Unlock()
	return st.hasVideo
}

// VideoDimensions returns the encoded video size.
func (st *Stream) VideoDimensions() Dimensions {
	st.connection.session.mu.Lock()
	defer st.connection.session.mu.Unlock()
	return st.dimensions
}

// describe must be called with the session lock held.
func (st *Stream) describe() signaling.Stream {
	d := signaling.Stream{
		ID:           st.id,
		ConnectionID: st.connection.id,
		CreationTime: st.created.UnixMilli(),
		Name:         st.name,
		HasAudio:     st.hasAudio,
		HasVideo:     st.hasVideo,
		VideoType:    string(st.videoType),
	}
	if st.dimensions != (Dimensions{}) {
		d.VideoDimensions = &signaling.Dimensions{Width: st.dimensions.Width, Height: st.dimensions.Height}
	}
	return d
}
