package sfu

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// A node link carries Tracks from one Engine (the exporting node, with a
// LinkOut) to another (the importing node, with a LinkIn) over one
// PeerConnection, encrypted and authenticated by DTLS-SRTP like any other.
// The importing node asks for a Track by its id (LinkIn.Import); the
// exporting node adds one media stream per simulcast layer of that Track
// to the link, whatever the number of subscribers on the importing node,
// and the importing node rebuilds the Track from them, for its own
// subscribers to subscribe to as to any Track.
//
// The engines know nothing of the channel between them: the caller carries
// the LinkOut's offers to LinkIn.Answer, the answers back to
// LinkOut.SetAnswer, and the LinkIn's LinkRequests to LinkOut.Request, over
// a channel it trusts (Redis, for example). The SDPs carry every candidate.
//
// Each layer of a Track crosses the link as one stream, from a DownTrack of
// the exporting node pinned to that layer: it answers the importing node's
// NACKs from the Track's cache, passes its keyframe requests on to the
// Track (and so to the publisher), sends sender reports and the audio
// level header extension, and counts in the Track's layer demand
// (Track.OnLayerDemand). The importing node asks, with a LinkRequest, for
// the layers its own subscribers want; the others are paused on the link.

var (
	// ErrLinkClosed is returned by the methods of a closed LinkIn or LinkOut.
	ErrLinkClosed = errors.New("sfu: link closed")
	// ErrUnknownTrack is returned for a track id the link does not know:
	// the exporting Engine has no such Track, or the LinkIn did not
	// import it.
	ErrUnknownTrack = errors.New("sfu: unknown track")
	// ErrBadLinkRequest is returned by LinkOut.Request and LinkIn.Import
	// for a request without a track id.
	ErrBadLinkRequest = errors.New("sfu: bad link request")
	// errBadLinkStream is a link stream whose msid is not one a LinkOut makes.
	errBadLinkStream = errors.New("sfu: not a node link stream")
)

// AllLayers asks for every simulcast layer of a Track in a LinkRequest.
const AllLayers uint8 = 0xff

// LinkRequest is what an importing node asks of the exporting one about a
// Track: the message a LinkIn hands to LinkInConfig.OnRequest, for the
// caller to carry (JSON-encoded, for example) to LinkOut.Request.
type LinkRequest struct {
	// TrackID names the exporting Engine's Track, as LinkOutConfig.Lookup
	// knows it; the imported Track has it for its id.
	TrackID string `json:"trackId"`
	// Layers are the simulcast layers wanted, bit i for layer i (0 the
	// lowest; a Track without simulcast has layer 0 only). Zero releases
	// the Track: it stops crossing the link.
	Layers uint8 `json:"layers"`
}

// validate checks a request from the other node.
func (r LinkRequest) validate() error {
	if r.TrackID == "" {
		return fmt.Errorf("%w: no track id", ErrBadLinkRequest)
	}
	return nil
}

// linkStream is what a stream of a node link carries, in its msid: which
// layer of which Track it is.
type linkStream struct {
	trackID, streamID string // the exporting Engine's Track
	rid               string // the layer's RID, empty if unknown or not simulcast
	layer, layers     int
}

// linkIDs is the encoding of the ids in an msid: a token of any bytes.
var linkIDs = base64.RawURLEncoding

// msid returns the stream and track ids of the stream's media section:
// "track.stream" and "layer.layers.rid", the ids and the RID encoded in
// unpadded base64url (which has no dots), as an msid allows only tokens.
func (s linkStream) msid() (streamID, trackID string) {
	streamID = linkIDs.EncodeToString([]byte(s.trackID)) + "." + linkIDs.EncodeToString([]byte(s.streamID))
	trackID = strconv.Itoa(s.layer) + "." + strconv.Itoa(s.layers) + "." + linkIDs.EncodeToString([]byte(s.rid))
	return streamID, trackID
}

// parseLinkStream decodes what msid encoded.
func parseLinkStream(streamID, trackID string) (linkStream, error) {
	ids := strings.Split(streamID, ".")
	layer := strings.Split(trackID, ".")
	if len(ids) != 2 || len(layer) != 3 {
		return linkStream{}, fmt.Errorf("%w: msid %q %q", errBadLinkStream, streamID, trackID)
	}
	var s linkStream
	var errs [5]error
	var raw [3][]byte
	raw[0], errs[0] = linkIDs.DecodeString(ids[0])
	raw[1], errs[1] = linkIDs.DecodeString(ids[1])
	raw[2], errs[2] = linkIDs.DecodeString(layer[2])
	s.layer, errs[3] = strconv.Atoi(layer[0])
	s.layers, errs[4] = strconv.Atoi(layer[1])
	if err := errors.Join(errs[:]...); err != nil || len(raw[0]) == 0 || s.layers < 1 || s.layers > maxLayers || s.layer < 0 || s.layer >= s.layers {
		return linkStream{}, fmt.Errorf("%w: msid %q %q", errBadLinkStream, streamID, trackID)
	}
	s.trackID, s.streamID, s.rid = string(raw[0]), string(raw[1]), string(raw[2])
	return s, nil
}
