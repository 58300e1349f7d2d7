package crossbar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// OpenTok's REST API, as a layer over the Server's Go API: the paths,
// bodies, statuses and authentication of https://api.opentok.com, so
// that OpenTok's server SDKs (Node, Python, Ruby, PHP, Java, .NET) drive
// Crossbar once their API URL is changed. Archives (restarchive.go) and
// broadcasts (restbroadcast.go) are there.

// RESTHandler returns OpenTok's REST API, at the paths OpenTok's server
// SDKs call below their API URL: "/session/create" and
// "/v2/project/{apiKey}/...". Handler serves it too, below its prefix:
//
//	mux.Handle("/crossbar/", srv.Handler()) // API URL http://host/crossbar
//	mux.Handle("/", srv.RESTHandler())      // API URL http://host
//
// Calls are authenticated as OpenTok's, with a JWT in the X-OPENTOK-AUTH
// header signed with the API secret. Answers that are not 2xx carry a
// JSON body {"code", "message"}.
func (srv *Server) RESTHandler() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h restCall) { mux.Handle(pattern, srv.restEndpoint(h)) }
	const sess = "/v2/project/{key}/session/{sid}"
	handle("POST /session/create", srv.restCreateSession)
	in := func(pattern string, h sessionCall) { handle(pattern, srv.inSession(h)) }
	in("GET "+sess+"/stream", restListStreams)
	in("GET "+sess+"/stream/{stream}", restGetStream)
	in("PUT "+sess+"/stream", restSetLayoutClasses)
	in("POST "+sess+"/signal", restSignal)
	in("POST "+sess+"/connection/{conn}/signal", restSignal)
	in("DELETE "+sess+"/connection/{conn}", restForceDisconnect)
	in("POST "+sess+"/stream/{stream}/mute", restForceMuteStream)
	in("POST "+sess+"/mute", restForceMuteAll)
	handle("POST /v2/project/{key}/captions", srv.restStartCaptions)
	handle("POST /v2/project/{key}/captions/{id}/stop", srv.restStopCaptions)
	const arch = "/v2/project/{key}/archive"
	handle("POST "+arch, srv.restStartArchive)
	handle("GET "+arch, srv.restListArchives)
	handle("GET "+arch+"/{id}", srv.restArchiveCall(srv.Archive))
	handle("DELETE "+arch+"/{id}", srv.restDeleteArchive)
	handle("POST "+arch+"/{id}/stop", srv.restArchiveCall(srv.StopArchive))
	handle("PUT "+arch+"/{id}/layout", srv.restSetArchiveLayout)
	handle("PATCH "+arch+"/{id}/streams", srv.restArchiveStreams)
	const cast = "/v2/project/{key}/broadcast"
	handle("POST "+cast, srv.restStartBroadcast)
	handle("GET "+cast, srv.restListBroadcasts)
	handle("GET "+cast+"/{id}", srv.restBroadcastCall(srv.Broadcast))
	handle("POST "+cast+"/{id}/stop", srv.restBroadcastCall(srv.StopBroadcast))
	handle("PUT "+cast+"/{id}/layout", srv.restSetBroadcastLayout)
	handle("PATCH "+cast+"/{id}/streams", srv.restBroadcastStreams)
	handle("/", func(http.ResponseWriter, *http.Request) error {
		return &restError{http.StatusNotFound, "no such REST endpoint"}
	})
	return mux
}

// restPath returns the REST API's part of a path below Handler's prefix,
// or false if it has none.
func restPath(p string) (string, bool) {
	if i := strings.Index(p, "/v2/project/"); i >= 0 {
		return p[i:], true
	}
	if strings.HasSuffix(p, "/session/create") {
		return "/session/create", true
	}
	return "", false
}

// restCall is a REST endpoint; it writes a 2xx answer, or returns an error
// that restEndpoint answers.
type restCall func(w http.ResponseWriter, r *http.Request) error

// maxRESTBody bounds a REST call's body: a signal's 8 kB, or class lists.
const maxRESTBody = 256 << 10

// restTimeout bounds a REST call's wait for the session store or the
// cluster.
const restTimeout = 10 * time.Second

// restEndpoint authenticates a call, checks the API key in its path and
// answers its errors.
func (srv *Server) restEndpoint(h restCall) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), restTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		r.Body = http.MaxBytesReader(w, r.Body, maxRESTBody)
		err := srv.authorize(ctx, r)
		if key := r.PathValue("key"); err == nil && key != "" && key != srv.cfg.APIKey {
			err = fmt.Errorf("%w: API key %q in the path is not this project's", errAuth, key)
		}
		if err == nil {
			err = h(w, r)
		}
		if err != nil {
			srv.restFail(w, r, err)
		}
	})
}

// restError is a REST answer's error: its HTTP status and message.
type restError struct {
	status  int
	message string
}

func (e *restError) Error() string { return e.message }

// restStatuses map errors to OpenTok's REST statuses.
var restStatuses = []struct {
	err    error
	status int
}{
	{errAuth, http.StatusForbidden},
	{ErrInvalidSessionID, http.StatusNotFound},
	{ErrSessionNotFound, http.StatusNotFound},
	{ErrSessionClosed, http.StatusNotFound},
	{ErrConnectionNotFound, http.StatusNotFound},
	{ErrStreamNotFound, http.StatusNotFound},
	{ErrSignalTooLarge, http.StatusRequestEntityTooLarge},
	{ErrInvalidSignal, http.StatusBadRequest},
	{ErrInvalidOption, http.StatusBadRequest},
	{ErrBadRequest, http.StatusBadRequest},
	{ErrSignalDropped, http.StatusTooManyRequests},
	{ErrClusterUnavailable, http.StatusServiceUnavailable},
	{ErrCaptionsNotFound, http.StatusNotFound},
	{ErrCaptionsConflict, http.StatusConflict},
	{ErrArchiveNotFound, http.StatusNotFound},
	{ErrArchiveConflict, http.StatusConflict},
	{ErrBroadcastNotFound, http.StatusNotFound},
	{ErrBroadcastConflict, http.StatusConflict},
	{ErrNotSupported, http.StatusNotImplemented},
}

// restFail answers a failed call: OpenTok's status, and a JSON body
// {"code", "message"} (code -1 for authentication, as OpenTok's; the
// status otherwise). Errors that are not Crossbar's are 500s whose text
// stays in the log.
func (srv *Server) restFail(w http.ResponseWriter, r *http.Request, err error) {
	status, message := http.StatusInternalServerError, "internal error"
	var re *restError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &re):
		status, message = re.status, re.message
	case errors.As(err, &tooLarge):
		status, message = http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", tooLarge.Limit)
	default:
		for _, s := range restStatuses {
			if errors.Is(err, s.err) {
				status, message = s.status, err.Error()
				break
			}
		}
	}
	code := status
	if errors.Is(err, errAuth) {
		code = -1
	}
	srv.log.Info("REST call failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	writeJSON(w, status, map[string]any{"code": code, "message": message})
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client is gone, or v is ours and encodes
}

// readJSON decodes a call's JSON body into v.
func readJSON(r *http.Request, v any) error {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return badBody("the JSON expected", err)
	}
	return nil
}

// badBody is the error of a body that is not what, as read: 400, or 413
// for a body over maxRESTBody.
func badBody(what string, err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return err
	}
	return &restError{http.StatusBadRequest, "body is not " + what + ": " + err.Error()}
}

// sessionCall is an endpoint below a session's path.
type sessionCall func(w http.ResponseWriter, r *http.Request, s *Session) error

// inSession makes h a restCall on the session its path names.
func (srv *Server) inSession(h sessionCall) restCall {
	return func(w http.ResponseWriter, r *http.Request) error {
		s, err := srv.Session(r.Context(), r.PathValue("sid"))
		if err != nil {
			return err
		}
		return h(w, r, s)
	}
}
