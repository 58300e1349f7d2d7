package crossbar

import (
	"fmt"
	"slices"
	"time"

	"github.com/crossbar-rtc/crossbar/sfu"
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

	pub *Publisher // nil in relayed sessions; without tracks if signal-only
	// remoteTracks are the kinds of the tracks of a routed stream another
	// node serves, which a node link brings here on demand.
	remoteTracks []string
	// moved: its connection moved to this node, and its tracks are still
	// to come here; retired are those it had before, closed once its
	// subscribers here have moved to the new ones (move.go).
	moved   bool
	retired []*sfu.Track
	// repointed is closed when its connection moves to another node:
	// imports from the old one give up (nodelink.go). Nil until needed.
	repointed chan struct{}

	// Guarded by session.mu.
	hasAudio, hasVideo bool
	dimensions         Dimensions
	forceMuted         bool
	captions           bool // its publisher publishes captions
	gone               bool
	layoutClasses      []string // see LayoutClassList
}

// streamSpec is what a publisher says of a new stream.
type streamSpec struct {
	name               string
	videoType          VideoType
	hasAudio, hasVideo bool
	hasCaptions        bool
	dimensions         Dimensions
}

// newStream makes a stream of c from what its publisher said of it.
func newStream(c *Connection, spec streamSpec) (*Stream, error) {
	if len(spec.name) > MaxStreamName {
		return nil, fmt.Errorf("%w: stream name is %d bytes, at most %d", ErrBadRequest, len(spec.name), MaxStreamName)
	}
	vt := spec.videoType
	switch {
	case !spec.hasVideo:
		vt = ""
	case vt == "":
		vt = VideoCamera
	case vt != VideoCamera && vt != VideoScreen && vt != VideoCustom:
		return nil, fmt.Errorf("%w: video type %q", ErrBadRequest, spec.videoType)
	}
	st := &Stream{
		id:         newID(),
		connection: c,
		created:    c.session.srv.cfg.Clock.Now(),
		name:       spec.name,
		videoType:  vt,
		hasAudio:   spec.hasAudio,
		hasVideo:   spec.hasVideo,
		captions:   spec.hasCaptions,
		// A stream starts with its token's classes, as OpenTok's.
		layoutClasses: slices.Clone(c.token.InitialLayoutClassList),
	}
	if d := spec.dimensions; d.Width > 0 && d.Height > 0 && d.Width <= maxDimension && d.Height <= maxDimension {
		st.dimensions = d
	}
	return st, nil
}

// maxDimension bounds a video's width and height, in pixels.
const maxDimension = 16384

// validDimensions reports whether d is a video size a client may name
// (zero: none).
func validDimensions(d Dimensions) bool {
	return d.Width >= 0 && d.Height >= 0 && d.Width <= maxDimension && d.Height <= maxDimension
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

// HasCaptions reports whether the stream's publisher publishes captions
// (publishCaptions): its audio is transcribed while the session has
// captions (Server.StartCaptions).
func (st *Stream) HasCaptions() bool {
	st.connection.session.mu.Lock()
	defer st.connection.session.mu.Unlock()
	return st.captions
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

// addStreamLocked makes a stream live and announces it to everyone, with
// its connection, which clients that were not told of it need.
func (s *Session) addStreamLocked(st *Stream) {
	if st.connection.gone || s.closed {
		s.later(st.pub.close)
		return
	}
	s.streams[st.id] = st
	muted := s.muteAll != nil && !s.muteAll.excluded[st.id] && !st.connection.remote()
	if muted {
		// Muted before anyone knows it: announced without audio, and its
		// publisher told why.
		st.forceMuted, st.hasAudio = true, false
		s.later(func() { st.pub.setAudioMuted(true) })
	}
	s.emitLocked(streamCreated{st})
	if muted {
		s.emitLocked(muteForced{st: st, active: true})
	}
	s.log.Info("stream created", "stream", st.id, "connection", st.connection.id)
}

// streamUpdate is a publisher's change to its stream: publishAudio,
// publishVideo, publishCaptions or a new video size; nil fields are
// unchanged.
type streamUpdate struct {
	streamID               string
	audio, video, captions *bool
	dimensions             *Dimensions
}

// updateStream applies a change c makes to a stream it publishes.
func (s *Session) updateStream(c *Connection, u streamUpdate) error {
	s.mu.Lock()
	defer s.unlock()
	st, err := s.ownStreamLocked(c, u.streamID)
	if err != nil {
		return err
	}
	if u.audio != nil && *u.audio && st.forceMuted {
		if s.muteAll != nil && !s.muteAll.excluded[st.id] {
			return &PermissionError{Role: c.token.Role, Action: ActionForceMute}
		}
		st.forceMuted = false
		s.later(func() { st.pub.setAudioMuted(false) })
	}
	if u.audio != nil {
		s.setPropertyLocked(st, "hasAudio", &st.hasAudio, *u.audio)
	}
	if u.video != nil {
		s.setPropertyLocked(st, "hasVideo", &st.hasVideo, *u.video)
	}
	if u.captions != nil {
		s.setPropertyLocked(st, "hasCaptions", &st.captions, *u.captions)
	}
	if d := u.dimensions; d != nil {
		if !validDimensions(*d) {
			return fmt.Errorf("%w: video dimensions %v", ErrBadRequest, *d)
		}
		if *d != st.dimensions {
			old := st.dimensions
			st.dimensions = *d
			s.propertyChangedLocked(st, "videoDimensions", old, *d)
		}
	}
	return nil
}

func (s *Session) setPropertyLocked(st *Stream, name string, field *bool, v bool) {
	if *field == v {
		return
	}
	*field = v
	s.propertyChangedLocked(st, name, !v, v)
}

// propertyChangedLocked tells everyone and the host that a stream property
// changed.
func (s *Session) propertyChangedLocked(st *Stream, name string, old, v any) {
	s.emitLocked(streamPropertyChanged{StreamPropertyChange{Stream: st, Property: name, OldValue: old, NewValue: v}})
}
