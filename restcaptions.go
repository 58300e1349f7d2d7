package crossbar

import (
	"errors"
	"net/http"
	"time"
)

// restStartCaptions is POST /v2/project/{key}/captions, OpenTok's start of
// live captions, with its JSON body: sessionId, token, languageCode,
// maxDuration (seconds), partialCaptions (default true), and
// statusCallbackUrl. The token must be a moderator's of the session, as
// OpenTok's captioner joins with it (Crossbar's reads the streams in
// process); statusCallbackUrl gets the captions' status callbacks
// (CaptionsOptions.StatusCallbackURL). It answers 202 with {"captionsId"}.
func (srv *Server) restStartCaptions(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		SessionID         string `json:"sessionId"`
		Token             string `json:"token"`
		LanguageCode      string `json:"languageCode"`
		MaxDuration       int    `json:"maxDuration"`
		PartialCaptions   *bool  `json:"partialCaptions"`
		StatusCallbackURL string `json:"statusCallbackUrl"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	tok, err := srv.VerifyToken(r.Context(), body.Token)
	if err != nil || tok.SessionID != body.SessionID || tok.Role != RoleModerator {
		return &restError{http.StatusBadRequest, "token must be a valid moderator token of session " + body.SessionID}
	}
	opts := CaptionsOptions{LanguageCode: body.LanguageCode, MaxDuration: time.Duration(body.MaxDuration) * time.Second,
		PartialCaptions: body.PartialCaptions == nil || *body.PartialCaptions, StatusCallbackURL: body.StatusCallbackURL}
	c, err := srv.StartCaptions(r.Context(), body.SessionID, opts)
	if errors.Is(err, ErrNotSupported) {
		return &restError{http.StatusNotImplemented, err.Error()}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"captionsId": c.ID})
	return nil
}

// restStopCaptions is POST /v2/project/{key}/captions/{id}/stop: 202 once
// they stopped.
func (srv *Server) restStopCaptions(w http.ResponseWriter, r *http.Request) error {
	if _, err := srv.StopCaptions(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}
