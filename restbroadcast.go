package crossbar

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// The REST API's broadcast endpoints (rest.go), each a call of the
// broadcast API (broadcast.go), below /v2/project/{apiKey}/broadcast.

// restBroadcast is a broadcast as OpenTok's REST API describes it.
type restBroadcast struct {
	ID                string            `json:"id"`
	SessionID         string            `json:"sessionId"`
	ProjectID         json.RawMessage   `json:"projectId"`
	CreatedAt         int64             `json:"createdAt"` // Unix ms
	UpdatedAt         int64             `json:"updatedAt"`
	Resolution        string            `json:"resolution"`
	Status            BroadcastStatus   `json:"status"`
	Reason            string            `json:"reason,omitempty"`
	BroadcastURLs     restBroadcastURLs `json:"broadcastUrls"`
	MaxDuration       int64             `json:"maxDuration"` // seconds
	MaxBitrate        int               `json:"maxBitrate,omitempty"`
	StreamMode        StreamMode        `json:"streamMode"`
	HasAudio          bool              `json:"hasAudio"`
	HasVideo          bool              `json:"hasVideo"`
	MultiBroadcastTag string            `json:"multiBroadcastTag,omitempty"`
	Settings          restBroadcastSet  `json:"settings"`
	// Streams are a manual-mode broadcast's, while it is started.
	Streams []restArchiveStream `json:"streams"`
	// Event is "broadcast" in a broadcast status callback.
	Event string `json:"event,omitempty"`
}

// restBroadcastURLs are where a broadcast goes: the HLS playlist's URL
// and the RTMP outputs with their statuses.
type restBroadcastURLs struct {
	HLS  string     `json:"hls,omitempty"`
	RTMP []restRTMP `json:"rtmp"`
}

// restRTMP is an RTMP output in OpenTok's JSON.
type restRTMP struct {
	ID         string     `json:"id,omitempty"`
	ServerURL  string     `json:"serverUrl"`
	StreamName string     `json:"streamName"`
	Status     RTMPStatus `json:"status,omitempty"`
}

// restBroadcastSet are a broadcast's HLS settings.
type restBroadcastSet struct {
	HLS *restHLS `json:"hls,omitempty"`
}

// restHLS are HLS options in OpenTok's JSON.
type restHLS struct {
	DVR        bool `json:"dvr"`
	LowLatency bool `json:"lowLatency"`
}

// restBroadcastOf describes b as OpenTok does; its HLS URL is absolute
// when the call r came through Handler, whose prefix it is below, else
// (or without r, in a callback) relative to that prefix.
func (srv *Server) restBroadcastOf(r *http.Request, b Broadcast) restBroadcast {
	j := restBroadcast{
		ID: b.ID, SessionID: b.SessionID, ProjectID: srv.projectID(), CreatedAt: b.CreatedAt.UnixMilli(), UpdatedAt: b.UpdatedAt.UnixMilli(),
		Resolution: b.Resolution, Status: b.Status, Reason: b.Reason, MaxDuration: int64(b.MaxDuration / time.Second), MaxBitrate: b.MaxBitrate,
		StreamMode: b.StreamMode, HasAudio: true, HasVideo: true, MultiBroadcastTag: b.MultiBroadcastTag,
		BroadcastURLs: restBroadcastURLs{RTMP: []restRTMP{}}, Streams: []restArchiveStream{},
	}
	for _, st := range b.Streams {
		j.Streams = append(j.Streams, restArchiveStream(st))
	}
	for _, o := range b.RTMP {
		j.BroadcastURLs.RTMP = append(j.BroadcastURLs.RTMP, restRTMP{ID: o.ID, ServerURL: o.ServerURL, StreamName: o.StreamName, Status: o.Status})
	}
	if b.HLS != nil {
		hls := restHLS(*b.HLS)
		j.Settings.HLS = &hls
		j.BroadcastURLs.HLS = b.HLSURL
		if r == nil {
			return j
		}
		if prefix, ok := r.Context().Value(handlerPrefix{}).(string); ok {
			scheme := "http"
			if r.TLS != nil {
				scheme = "https"
			}
			j.BroadcastURLs.HLS = scheme + "://" + r.Host + strings.TrimSuffix(prefix, "/") + "/" + b.HLSURL
		}
	}
	return j
}

// handlerPrefix is the key of the request context's value that Handler
// sets on the REST calls it serves: the path below which it is mounted.
type handlerPrefix struct{}

// restStartBroadcast is POST .../broadcast: {sessionId, layout,
// maxDuration, maxBitrate, resolution, outputs: {hls: {dvr, lowLatency},
// rtmp: [{id, serverUrl, streamName}]}, multiBroadcastTag, streamMode}.
func (srv *Server) restStartBroadcast(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		SessionID   string `json:"sessionId"`
		Layout      *restLayout
		MaxDuration int64
		MaxBitrate  int
		Resolution  string
		Outputs     struct {
			HLS  *restHLS
			RTMP []restRTMP
		}
		MultiBroadcastTag string
		StreamMode        StreamMode
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if body.SessionID == "" {
		return &restError{http.StatusBadRequest, "sessionId is missing"}
	}
	opts := BroadcastOptions{
		MaxDuration: time.Duration(body.MaxDuration) * time.Second, MaxBitrate: body.MaxBitrate, Resolution: body.Resolution,
		MultiBroadcastTag: body.MultiBroadcastTag, StreamMode: body.StreamMode,
	}
	if body.Layout != nil {
		opts.Layout = ArchiveLayout(*body.Layout)
	}
	if h := body.Outputs.HLS; h != nil {
		opts.Outputs.HLS = &HLSOptions{DVR: h.DVR, LowLatency: h.LowLatency}
	}
	for _, o := range body.Outputs.RTMP {
		opts.Outputs.RTMP = append(opts.Outputs.RTMP, RTMPOutput{ID: o.ID, ServerURL: o.ServerURL, StreamName: o.StreamName})
	}
	b, err := srv.StartBroadcast(r.Context(), body.SessionID, opts)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, srv.restBroadcastOf(r, b))
	return nil
}

// restBroadcastCall is GET .../broadcast/{id} (with srv.Broadcast) or
// POST .../broadcast/{id}/stop (srv.StopBroadcast): the broadcast's JSON.
func (srv *Server) restBroadcastCall(f func(context.Context, string) (Broadcast, error)) restCall {
	return func(w http.ResponseWriter, r *http.Request) error {
		b, err := f(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, srv.restBroadcastOf(r, b))
		return nil
	}
}

// restListBroadcasts is GET .../broadcast?offset&count&sessionId:
// {count, items}, count being how many there are in all.
func (srv *Server) restListBroadcasts(w http.ResponseWriter, r *http.Request) error {
	var opts BroadcastListOptions
	if err := listQuery(r, &opts.SessionID, &opts.Offset, &opts.Count); err != nil {
		return err
	}
	list, total, err := srv.Broadcasts(r.Context(), opts)
	if err != nil {
		return err
	}
	items := []restBroadcast{}
	for _, b := range list {
		items = append(items, srv.restBroadcastOf(r, b))
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": total, "items": items})
	return nil
}

// restSetBroadcastLayout is PUT .../broadcast/{id}/layout: {type,
// stylesheet, screenshareType}.
func (srv *Server) restSetBroadcastLayout(w http.ResponseWriter, r *http.Request) error {
	var body restLayout
	if err := readJSON(r, &body); err != nil {
		return err
	}
	return answered(w, http.StatusOK, srv.SetBroadcastLayout(r.Context(), r.PathValue("id"), ArchiveLayout(body)))
}

// restBroadcastStreams is PATCH .../broadcast/{id}/streams (restStreams).
func (srv *Server) restBroadcastStreams(w http.ResponseWriter, r *http.Request) error {
	mode := func(ctx context.Context, id string) (StreamMode, error) {
		b, err := srv.Broadcast(ctx, id)
		return b.StreamMode, err
	}
	return restStreams(w, r, "broadcast", mode, srv.AddBroadcastStream, srv.RemoveBroadcastStream)
}
