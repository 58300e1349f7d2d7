package crossbar

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/crossbar-rtc/crossbar/archive"
)

// The REST API's archive endpoints (rest.go), each a call of the archive
// API (archive.go), below /v2/project/{apiKey}/archive.

// restArchive is an archive as OpenTok's REST API and its archive status
// callbacks describe it (Event is the callbacks' "archive").
type restArchive struct {
	ID              string              `json:"id"`
	Event           string              `json:"event,omitempty"`
	Status          ArchiveStatus       `json:"status"`
	Name            string              `json:"name"`
	Reason          string              `json:"reason"`
	SessionID       string              `json:"sessionId"`
	ProjectID       json.RawMessage     `json:"projectId"`
	PartnerID       json.RawMessage     `json:"partnerId"`
	CreatedAt       int64               `json:"createdAt"` // Unix ms
	Size            int64               `json:"size"`      // bytes
	Duration        int64               `json:"duration"`  // seconds
	OutputMode      OutputMode          `json:"outputMode"`
	Resolution      string              `json:"resolution,omitempty"` // composed archives
	StreamMode      StreamMode          `json:"streamMode"`
	HasAudio        bool                `json:"hasAudio"`
	HasVideo        bool                `json:"hasVideo"`
	URL             *string             `json:"url"` // null: the Storage gives none
	Streams         []restArchiveStream `json:"streams"`
	MultiArchiveTag string              `json:"multiArchiveTag,omitempty"`
}

// restArchiveStream is a stream a manual-mode archive records, or a
// manual-mode broadcast has.
type restArchiveStream struct {
	StreamID string `json:"streamId"`
	HasAudio bool   `json:"hasAudio"`
	HasVideo bool   `json:"hasVideo"`
}

// restArchiveOf describes a as OpenTok does, with the URL of its files if
// the archive Storage gives one (archive.Linker) once it is available.
func (srv *Server) restArchiveOf(ctx context.Context, a Archive) restArchive {
	project := srv.projectID()
	r := restArchive{
		ID: a.ID, Status: a.Status, Name: a.Name, Reason: a.Reason, SessionID: a.SessionID,
		ProjectID: project, PartnerID: project, CreatedAt: a.CreatedAt.UnixMilli(), Size: a.Size,
		Duration: int64(a.Duration.Round(time.Second) / time.Second), OutputMode: a.OutputMode, Resolution: a.Resolution,
		StreamMode: a.StreamMode, HasAudio: a.HasAudio, HasVideo: a.HasVideo, Streams: []restArchiveStream{}, MultiArchiveTag: a.MultiArchiveTag,
	}
	for _, st := range a.Streams {
		r.Streams = append(r.Streams, restArchiveStream(st))
	}
	if l, ok := srv.cfg.Archives.(archive.Linker); ok && a.Status == ArchiveAvailable {
		if u, err := l.URL(ctx, a.ID); err == nil {
			r.URL = &u
		} else {
			srv.log.Warn("archive: no URL from the storage", "archive", a.ID, "err", err)
		}
	}
	return r
}

// projectID is the API key as OpenTok's archives give it: a number, or a
// string if the key is not one.
func (srv *Server) projectID() json.RawMessage {
	if _, err := strconv.ParseUint(srv.cfg.APIKey, 10, 64); err == nil {
		return json.RawMessage(srv.cfg.APIKey)
	}
	b, _ := json.Marshal(srv.cfg.APIKey) // a string encodes
	return b
}

// restStartArchive is POST .../archive: {sessionId, name, hasAudio,
// hasVideo, outputMode, resolution, layout, streamMode, multiArchiveTag}.
// As OpenTok's, the output mode is composed unless the body says
// individual.
func (srv *Server) restStartArchive(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		SessionID       string `json:"sessionId"`
		Name            string
		HasAudio        *bool
		HasVideo        *bool
		OutputMode      OutputMode
		Resolution      string
		Layout          *restLayout
		StreamMode      StreamMode
		MultiArchiveTag string
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if body.SessionID == "" {
		return &restError{http.StatusBadRequest, "sessionId is missing"}
	}
	opts := ArchiveOptions{
		Name: body.Name, NoAudio: !orTrue(body.HasAudio), NoVideo: !orTrue(body.HasVideo),
		OutputMode: body.OutputMode, Resolution: body.Resolution, StreamMode: body.StreamMode,
		MultiArchiveTag: body.MultiArchiveTag,
	}
	if opts.OutputMode == "" {
		opts.OutputMode = OutputComposed
	}
	if body.Layout != nil {
		opts.Layout = ArchiveLayout(*body.Layout)
	}
	a, err := srv.StartArchive(r.Context(), body.SessionID, opts)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, srv.restArchiveOf(r.Context(), a))
	return nil
}

// restLayout is an archive's layout in OpenTok's JSON.
type restLayout struct {
	Type            string `json:"type"`
	Stylesheet      string `json:"stylesheet"`
	ScreenshareType string `json:"screenshareType"`
}

// orTrue is *b, or true if b is nil: OpenTok's default of hasAudio and
// hasVideo.
func orTrue(b *bool) bool { return b == nil || *b }

// restArchiveCall is GET .../archive/{id} (with srv.Archive) or POST
// .../archive/{id}/stop (srv.StopArchive): the archive's JSON.
func (srv *Server) restArchiveCall(f func(context.Context, string) (Archive, error)) restCall {
	return func(w http.ResponseWriter, r *http.Request) error {
		a, err := f(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, srv.restArchiveOf(r.Context(), a))
		return nil
	}
}

// restListArchives is GET .../archive?offset&count&sessionId: {count,
// items}, count being how many there are in all.
func (srv *Server) restListArchives(w http.ResponseWriter, r *http.Request) error {
	var opts ArchiveListOptions
	if err := listQuery(r, &opts.SessionID, &opts.Offset, &opts.Count); err != nil {
		return err
	}
	list, total, err := srv.Archives(r.Context(), opts)
	if err != nil {
		return err
	}
	items := []restArchive{}
	for _, a := range list {
		items = append(items, srv.restArchiveOf(r.Context(), a))
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": total, "items": items})
	return nil
}

// listQuery reads a list's query: ?sessionId&offset&count.
func listQuery(r *http.Request, sessionID *string, offset, count *int) error {
	q := r.URL.Query()
	*sessionID = q.Get("sessionId")
	for name, n := range map[string]*int{"offset": offset, "count": count} {
		if v := q.Get(name); v != "" {
			var err error
			if *n, err = strconv.Atoi(v); err != nil {
				return &restError{http.StatusBadRequest, name + " is not a number: " + strconv.Quote(v)}
			}
		}
	}
	return nil
}

// restDeleteArchive is DELETE .../archive/{id}.
func (srv *Server) restDeleteArchive(w http.ResponseWriter, r *http.Request) error {
	return answered(w, http.StatusNoContent, srv.DeleteArchive(r.Context(), r.PathValue("id")))
}

// restSetArchiveLayout is PUT .../archive/{id}/layout: {type, stylesheet,
// screenshareType}.
func (srv *Server) restSetArchiveLayout(w http.ResponseWriter, r *http.Request) error {
	var body restLayout
	if err := readJSON(r, &body); err != nil {
		return err
	}
	return answered(w, http.StatusOK, srv.SetArchiveLayout(r.Context(), r.PathValue("id"), ArchiveLayout(body)))
}

// answered answers a call without a body: status, unless err.
func answered(w http.ResponseWriter, status int, err error) error {
	if err == nil {
		w.WriteHeader(status)
	}
	return err
}

// restArchiveStreams is PATCH .../archive/{id}/streams (restStreams).
func (srv *Server) restArchiveStreams(w http.ResponseWriter, r *http.Request) error {
	mode := func(ctx context.Context, id string) (StreamMode, error) {
		a, err := srv.Archive(ctx, id)
		return a.StreamMode, err
	}
	return restStreams(w, r, "archive", mode, srv.AddArchiveStream, srv.RemoveArchiveStream)
}

// restStreams is PATCH .../archive/{id}/streams or
// .../broadcast/{id}/streams, of what: {addStream, hasAudio, hasVideo} or
// {removeStream}. As OpenTok's, it answers 405 unless the archive's or
// broadcast's stream mode (as mode gives it) is manual.
func restStreams(w http.ResponseWriter, r *http.Request, what string, mode func(context.Context, string) (StreamMode, error),
	add func(context.Context, string, ArchiveStream) error, remove func(context.Context, string, string) error,
) error {
	var body struct {
		AddStream, RemoveStream string
		HasAudio, HasVideo      *bool
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if (body.AddStream == "") == (body.RemoveStream == "") {
		return &restError{http.StatusBadRequest, "give one of addStream and removeStream"}
	}
	id := r.PathValue("id")
	m, err := mode(r.Context(), id)
	if err != nil {
		return err
	}
	if m != StreamModeManual {
		return &restError{http.StatusMethodNotAllowed, what + " " + id + " has every stream (stream mode auto)"}
	}
	if body.AddStream != "" {
		err = add(r.Context(), id, ArchiveStream{StreamID: body.AddStream, HasAudio: orTrue(body.HasAudio), HasVideo: orTrue(body.HasVideo)})
	} else {
		err = remove(r.Context(), id, body.RemoveStream)
	}
	return answered(w, http.StatusNoContent, err)
}
