package crossbar

import (
	"errors"
	"net/http"
	"time"
)

// The REST API's endpoints (rest.go), each a call of the Go API.

// restCreateSession is POST /session/create: the form fields of OpenTok's
// (p2p.preference, archiveMode, archiveName, location, e2ee). A session in
// archive mode always records individual archives (archiveResolution,
// a composed archive's, is not read). As OpenTok's, a session
// is relayed unless p2p.preference is "disabled". End-to-end encryption
// (SessionOptions.E2EE) needs routed media: clients encrypt.
func (srv *Server) restCreateSession(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return badBody("a form", err)
	}
	opts := SessionOptions{Location: r.FormValue("location")}
	switch r.FormValue("p2p.preference") {
	case "", "enabled":
		opts.MediaMode = Relayed
	case "disabled":
		opts.MediaMode = Routed
	default:
		return &restError{http.StatusBadRequest, `p2p.preference must be "enabled" or "disabled"`}
	}
	switch m := ArchiveMode(r.FormValue("archiveMode")); m {
	case "", ArchiveModeManual, ArchiveModeAlways:
		opts.ArchiveMode, opts.ArchiveName = m, r.FormValue("archiveName")
	default:
		return &restError{http.StatusBadRequest, `archiveMode must be "manual" or "always"`}
	}
	switch r.FormValue("e2ee") {
	case "", "false":
	case "true":
		if opts.MediaMode != Routed {
			return &restError{http.StatusBadRequest, "e2ee needs a routed session (p2p.preference disabled)"}
		}
		opts.E2EE = true
	default:
		return &restError{http.StatusBadRequest, `e2ee must be "true" or "false"`}
	}
	s, err := srv.CreateSession(r.Context(), opts)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, []map[string]string{{
		"session_id":       s.ID(),
		"project_id":       srv.cfg.APIKey,
		"partner_id":       srv.cfg.APIKey,
		"create_dt":        s.CreationTime().UTC().Format(time.UnixDate),
		"media_server_url": "",
	}})
	return nil
}

// restStream is a stream as OpenTok's REST API describes it.
type restStream struct {
	ID              string    `json:"id"`
	VideoType       VideoType `json:"videoType"`
	Name            string    `json:"name"`
	LayoutClassList []string  `json:"layoutClassList"`
}

func restStreamOf(st *Stream) restStream {
	classes := st.LayoutClassList()
	if classes == nil {
		classes = []string{}
	}
	return restStream{ID: st.ID(), VideoType: st.VideoType(), Name: st.Name(), LayoutClassList: classes}
}

// restListStreams is GET .../session/{sid}/stream.
func restListStreams(w http.ResponseWriter, r *http.Request, s *Session) error {
	items := []restStream{}
	for _, st := range s.Streams() {
		items = append(items, restStreamOf(st))
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(items), "items": items})
	return nil
}

// restGetStream is GET .../session/{sid}/stream/{stream}.
func restGetStream(w http.ResponseWriter, r *http.Request, s *Session) error {
	st, err := s.Stream(r.PathValue("stream"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, restStreamOf(st))
	return nil
}

// restSetLayoutClasses is PUT .../session/{sid}/stream:
// {"items": [{"id", "layoutClassList": [...]}]}.
func restSetLayoutClasses(w http.ResponseWriter, r *http.Request, s *Session) error {
	var body struct {
		Items []struct {
			ID              string   `json:"id"`
			LayoutClassList []string `json:"layoutClassList"`
		} `json:"items"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if len(body.Items) == 0 {
		return &restError{http.StatusBadRequest, "items lists no stream"}
	}
	lists := map[string][]string{}
	for _, it := range body.Items {
		if it.ID == "" {
			return &restError{http.StatusBadRequest, "an item has no stream id"}
		}
		lists[it.ID] = it.LayoutClassList
	}
	if err := s.SetLayoutClassLists(lists); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// restSignal is POST .../session/{sid}/signal and
// .../connection/{conn}/signal: {"type", "data"}.
func restSignal(w http.ResponseWriter, r *http.Request, s *Session) error {
	var body struct{ Type, Data string }
	if err := readJSON(r, &body); err != nil {
		return err
	}
	to := r.PathValue("conn")
	err := s.Signal(SignalOptions{To: to, Type: body.Type, Data: body.Data})
	if errors.Is(err, ErrSignalDropped) && to == "" {
		// The others have it; a retry would repeat it to them.
		s.log.Info("REST signal dropped for clients too far behind", "err", err)
		err = nil
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// restForceDisconnect is DELETE .../session/{sid}/connection/{conn}.
func restForceDisconnect(w http.ResponseWriter, r *http.Request, s *Session) error {
	if err := s.ForceDisconnect(r.PathValue("conn")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// restForceMuteStream is POST .../session/{sid}/stream/{stream}/mute.
func restForceMuteStream(w http.ResponseWriter, r *http.Request, s *Session) error {
	if err := s.ForceMuteStream(r.PathValue("stream")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// restForceMuteAll is POST .../session/{sid}/mute:
// {"active", "excludedStreamIds"}; active false is DisableForceMute.
func restForceMuteAll(w http.ResponseWriter, r *http.Request, s *Session) error {
	var body struct {
		Active   *bool    `json:"active"`
		Excluded []string `json:"excludedStreamIds"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	var err error
	switch {
	case body.Active == nil:
		return &restError{http.StatusBadRequest, "active is missing"}
	case *body.Active:
		err = s.ForceMuteAll(body.Excluded...)
	default:
		err = s.DisableForceMute()
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}
