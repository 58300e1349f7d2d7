package signaling

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Version is the protocol version this package speaks. Every message carries
// it in the field "v".
const Version = 1

// MaxMessageSize caps one encoded message, in bytes. Transports refuse larger
// frames: a signal's data is at most 8 kB and a session description a few tens
// of kilobytes.
const MaxMessageSize = 128 << 10

// Type names a message.
type Type string

// Messages a client sends.
const (
	TypeConnect          Type = "connect"
	TypeDisconnect       Type = "disconnect"
	TypePing             Type = "ping" // a keep-alive for clients that cannot send WebSocket pings
	TypeSignal           Type = "signal"
	TypeForceDisconnect  Type = "forceDisconnect"
	TypeForceUnpublish   Type = "forceUnpublish"
	TypeForceMuteStream  Type = "forceMuteStream"
	TypeForceMuteAll     Type = "forceMuteAll"
	TypeDisableForceMute Type = "disableForceMute"
	TypePublish          Type = "publish"
	TypeUnpublish        Type = "unpublish"
	TypeStreamUpdate     Type = "streamUpdate"
	TypeSubscribe        Type = "subscribe"
	TypeUnsubscribe      Type = "unsubscribe"
	TypeSubscription     Type = "subscription"
	TypeOffer            Type = "offer"      // publishing PC: the client's (re)offer
	TypeAnswer           Type = "answer"     // subscribing PC: the client's answer
	TypeCandidate        Type = "candidate"  // either PC: a trickled ICE candidate
	TypeICERestart       Type = "iceRestart" // subscribing PC: ask the server for an offer with new ICE credentials
	TypeRelay            Type = "relay"      // relayed sessions: negotiation between two clients
)

// Messages the server sends.
const (
	TypeConnected             Type = "connected"
	TypeSessionState          Type = "sessionState" // more of a joining client's initial state
	TypeOK                    Type = "ok"
	TypeError                 Type = "error"
	TypeSessionDisconnected   Type = "sessionDisconnected"
	TypeConnectionCreated     Type = "connectionCreated"
	TypeConnectionDestroyed   Type = "connectionDestroyed"
	TypeStreamCreated         Type = "streamCreated"
	TypeStreamDestroyed       Type = "streamDestroyed"
	TypeStreamPropertyChanged Type = "streamPropertyChanged"
	TypeMuteForced            Type = "muteForced"
	TypeSubscriberOffer       Type = "subscriberOffer"  // subscribing PC: the server's (re)offer
	TypePeerSubscribed        Type = "peerSubscribed"   // relayed sessions: a client subscribed to your stream
	TypePeerUnsubscribed      Type = "peerUnsubscribed" // relayed sessions: it unsubscribed
	TypeVideoDisabled         Type = "videoDisabled"    // a subscription's video stopped (reason "quality")
	TypeVideoEnabled          Type = "videoEnabled"     // it came back
	TypeLayers                Type = "layers"           // which simulcast layers of a stream someone watches
	// TypeSubscriptionFailed ends a subscription the client cannot
	// receive (its codec): streamId and error.
	TypeSubscriptionFailed Type = "subscriptionFailed"
	// TypeMove asks the client to resume its connection on another node
	// now: this one is draining.
	TypeMove Type = "move"
	// TypePathLost tells the client that the server hears nothing from its
	// peer connection pc ("publisher" or "subscriber") any more: its
	// network changed, and it should restart ICE.
	TypePathLost Type = "pathLost"
	// TypeArchiveStarted and TypeArchiveStopped: an archive of the
	// session started or stopped (archive). A joining client learns of
	// those recording in "connected" (archives).
	TypeArchiveStarted Type = "archiveStarted"
	TypeArchiveStopped Type = "archiveStopped"
	// TypeCaption carries a caption of a stream's audio (streamId,
	// caption) to the clients subscribed to its captions.
	TypeCaption Type = "caption"
)

// Message is one protocol message. Which fields are set depends on Type;
// PROTOCOL.md lists them for each type.
type Message struct {
	V    int    `json:"v"`
	Type Type   `json:"type"`
	ID   uint64 `json:"id,omitempty"` // request id, chosen by the client
	Re   uint64 `json:"re,omitempty"` // the request id a reply answers

	SessionID string  `json:"sessionId,omitempty"`
	Token     string  `json:"token,omitempty"`
	Resume    *Resume `json:"resume,omitempty"`
	Resumed   bool    `json:"resumed,omitempty"` // "connected" after a resume
	// Moved, in "connected" after a resume, says another node took the
	// connection over: the message has the whole session state, and the
	// client makes new peer connections (PROTOCOL.md, "Moving to another
	// node").
	Moved bool `json:"moved,omitempty"`
	More  bool `json:"more,omitempty"` // "connected", "sessionState": more of the initial state follows
	// VideoCodecs, in "connect", are the video codecs the client decodes
	// (VP8, H264, VP9); absent: VP8.
	VideoCodecs []string `json:"videoCodecs,omitempty"`
	// E2EE, in "connect", says the client seals its media with an
	// encryption secret; in "connected", that the session is end-to-end
	// encrypted (PROTOCOL.md).
	E2EE bool `json:"e2ee,omitempty"`
	// ConnectionEventsSuppressed, in "connect", asks for no connection
	// events and no list of connections beyond those that publish.
	ConnectionEventsSuppressed bool   `json:"connectionEventsSuppressed,omitempty"`
	ConnectionID               string `json:"connectionId,omitempty"`
	StreamID                   string `json:"streamId,omitempty"`
	Reason                     string `json:"reason,omitempty"`

	Connection   *Connection   `json:"connection,omitempty"`
	Connections  []Connection  `json:"connections,omitempty"`
	Stream       *Stream       `json:"stream,omitempty"`
	Streams      []Stream      `json:"streams,omitempty"`
	Capabilities *Capabilities `json:"capabilities,omitempty"`

	Signal *Signal         `json:"signal,omitempty"`
	Change *PropertyChange `json:"change,omitempty"`
	Error  *Error          `json:"error,omitempty"`

	// Media.
	ICEServers []ICEServer `json:"iceServers,omitempty"` // in "connected"
	MediaMode  string      `json:"mediaMode,omitempty"`  // in "connected": MediaRouted or MediaRelayed
	VideoCodec string      `json:"videoCodec,omitempty"` // in "connected": what publishers send (VP8, H264, VP9); absent: any
	SDP        string      `json:"sdp,omitempty"`
	// Negotiation numbers the server's subscriberOffers (1, 2, ...); an
	// answer gives the number of the offer it answers, so that an answer
	// sent again after a lost link is known for what it is. 0: none given.
	Negotiation uint64        `json:"negotiation,omitempty"`
	PC          string        `json:"pc,omitempty"` // "publisher" or "subscriber"
	Candidate   *ICECandidate `json:"candidate,omitempty"`
	Tracks      []Track       `json:"tracks,omitempty"`
	Audio       *bool         `json:"audio,omitempty"` // subscribe, subscription, streamUpdate
	Video       *bool         `json:"video,omitempty"`
	Active      *bool         `json:"active,omitempty"` // muteForced
	// Captions: in streamUpdate, whether the publisher publishes
	// captions (publishCaptions); in subscribe and subscription, whether
	// the subscriber receives them (subscribeToCaptions).
	Captions *bool    `json:"captions,omitempty"`
	Caption  *Caption `json:"caption,omitempty"`  // caption
	Excluded []string `json:"excluded,omitempty"` // forceMuteAll: stream ids left alone

	// Media quality.
	PreferredResolution *Dimensions `json:"preferredResolution,omitempty"` // subscribe, subscription
	PreferredFrameRate  *float64    `json:"preferredFrameRate,omitempty"`  // subscribe, subscription
	Layers              []Layer     `json:"layers,omitempty"`              // layers

	Archive  *Archive  `json:"archive,omitempty"`  // archiveStarted, archiveStopped
	Archives []Archive `json:"archives,omitempty"` // in "connected": the archives recording
}

// Archive is an archive of the session, as clients know it.
type Archive struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Layer is one simulcast layer of a published video, by RID, and whether a
// subscriber receives it.
type Layer struct {
	RID    string `json:"rid"`
	Active bool   `json:"active"`
}

// The two peer connections of a routed connection.
const (
	PCPublisher  = "publisher"  // the client offers; it carries the client's streams
	PCSubscriber = "subscriber" // the server offers; it carries subscribed streams
)

// The media modes of a session, in "connected".
const (
	MediaRouted  = "routed"  // media goes through the server
	MediaRelayed = "relayed" // media goes peer to peer; the server only signals
)

// ICEServer is a STUN or TURN server for the client's peer connections.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// ICECandidate is a trickled ICE candidate, as RTCIceCandidateInit.
type ICECandidate struct {
	Candidate     string  `json:"candidate"`
	SDPMid        *string `json:"sdpMid,omitempty"`
	SDPMLineIndex *uint16 `json:"sdpMLineIndex,omitempty"`
}

// Track names one media track of a published stream by the mid of its
// transceiver on the publishing peer connection.
type Track struct {
	Mid  string `json:"mid"`
	Kind string `json:"kind"` // "audio" or "video"
}

// Resume asks to take back a connection whose transport dropped, within the
// server's grace period. Key is the secret the server sent in "connected";
// Received counts the messages the client got after its first "connected",
// so that the server resends those lost with the old transport.
type Resume struct {
	ConnectionID string `json:"connectionId"`
	Key          string `json:"key"`
	Received     uint64 `json:"received"`
	// Signals are, in a cluster, the highest signal number the client
	// received from each origin node (Signal.Origin, Signal.N), for a
	// node that takes the connection over to resend what it missed.
	Signals map[string]uint64 `json:"signals,omitempty"`
}

// Connection describes a client's presence in a session.
type Connection struct {
	ID           string `json:"connectionId"`
	CreationTime int64  `json:"creationTime"` // ms since the epoch
	Data         string `json:"data"`
	Role         string `json:"role,omitempty"`
	ResumeKey    string `json:"resumeKey,omitempty"` // only in "connected", to the connection's own client
}

// Stream describes one published audio/video signal.
type Stream struct {
	ID              string      `json:"streamId"`
	ConnectionID    string      `json:"connectionId"`
	CreationTime    int64       `json:"creationTime"`
	Name            string      `json:"name"`
	HasAudio        bool        `json:"hasAudio"`
	HasVideo        bool        `json:"hasVideo"`
	VideoType       string      `json:"videoType,omitempty"`
	VideoDimensions *Dimensions `json:"videoDimensions,omitempty"`
	// HasCaptions: the publisher publishes captions of its audio
	// (publishCaptions); set in "publish" too.
	HasCaptions bool `json:"hasCaptions,omitempty"`
}

// Caption is a piece of a stream's transcript. Start and End are in
// milliseconds of the stream's audio since its transcription started; a
// partial caption (Final false) is replaced by the next one, until a final
// one ends the phrase.
type Caption struct {
	Text  string `json:"text"`
	Final bool   `json:"isFinal"`
	Start int64  `json:"start"`
	End   int64  `json:"end"`
}

// Dimensions is a video size in pixels.
type Dimensions struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

// Capabilities says which actions the connection's role permits, as OpenTok's
// Session.capabilities does (1 allowed, 0 not).
type Capabilities struct {
	Publish         int `json:"publish"`
	Subscribe       int `json:"subscribe"`
	Signal          int `json:"signal"`
	ForceDisconnect int `json:"forceDisconnect"`
	ForceUnpublish  int `json:"forceUnpublish"`
	ForceMute       int `json:"forceMute"`
}

// Signal is an application message between clients. From is set by the
// server; it is empty for signals the host sends.
type Signal struct {
	To   string `json:"to,omitempty"`
	From string `json:"from,omitempty"`
	Type string `json:"type,omitempty"`
	Data string `json:"data"`
	// Origin and N, set by the server in a cluster, name the node where
	// the signal was sent and number it among that node's signals of the
	// session, from 1: see Resume.Signals.
	Origin string `json:"origin,omitempty"`
	N      uint64 `json:"n,omitempty"`
}

// PropertyChange reports a changed stream property.
type PropertyChange struct {
	Property string `json:"changedProperty"`
	OldValue any    `json:"oldValue"`
	NewValue any    `json:"newValue"`
}

// Error is a failure reported to a client. Code and Name follow OpenTok's
// exception codes so that client code written for OpenTok keeps working.
type Error struct {
	Code    int    `json:"code"`
	Name    string `json:"name"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s (%d): %s", e.Name, e.Code, e.Message) }

// ErrMalformed is returned by Decode for input that is not a protocol message.
var ErrMalformed = errors.New("signaling: malformed message")

// Decode parses one message and checks its envelope: the version and a type.
// It does not judge whether the type is one the receiver accepts.
func Decode(b []byte) (*Message, error) {
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds the %d byte limit", ErrMalformed, len(b), MaxMessageSize)
	}
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if m.V != Version {
		return nil, fmt.Errorf("%w: protocol version %d, want %d", ErrMalformed, m.V, Version)
	}
	if m.Type == "" {
		return nil, fmt.Errorf("%w: no type", ErrMalformed)
	}
	return &m, nil
}

// Encode serialises m, setting its version.
func Encode(m *Message) ([]byte, error) {
	m.V = Version
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("signaling: encode %s: %w", m.Type, err)
	}
	return b, nil
}
