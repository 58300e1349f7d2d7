package crossbar

import (
	"context"
	"net/http"
	"path"
	"strings"

	"github.com/crossbar-rtc/crossbar/signaling"
)

// Handler returns the HTTP handler a host mounts on its own mux, at a prefix
// of its choosing:
//
//	mux.Handle("/crossbar/", srv.Handler())
//
// Below the prefix, "ws" is the signaling WebSocket, "crossbar.js",
// "crossbar.mjs" and "crossbar.d.ts" are the browser client,
// "session/create" and "v2/project/..." are OpenTok's REST API
// (RESTHandler): an OpenTok server SDK whose API URL is the prefix's
// (http://host/crossbar) drives the server; and
// "broadcast/<id>/hls/index.m3u8" and its segments are the HLS playlist
// of a started broadcast (Broadcast.HLSURL).
func (srv *Server) Handler() http.Handler {
	rest := srv.RESTHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := restPath(r.URL.Path); ok {
			prefix := strings.TrimSuffix(r.URL.Path, p)
			r2 := r.WithContext(context.WithValue(r.Context(), handlerPrefix{}, prefix))
			u := *r.URL
			u.Path, u.RawPath = p, ""
			r2.URL = &u
			rest.ServeHTTP(w, r2)
			return
		}
		if srv.serveHLS(w, r) {
			return
		}
		switch path.Base(r.URL.Path) {
		case "ws":
			srv.serveWebSocket(w, r)
		case "crossbar.js", "crossbar.mjs":
			serveAsset(w, r, path.Base(r.URL.Path), "text/javascript; charset=utf-8")
		case "crossbar.d.ts":
			serveAsset(w, r, "crossbar.d.ts", "application/typescript; charset=utf-8")
		default:
			http.NotFound(w, r)
		}
	})
}

func (srv *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if srv.isDraining() {
		http.Error(w, ErrNodeDraining.Error(), http.StatusServiceUnavailable)
		return
	}
	ws, err := signaling.AcceptWebSocket(w, r, srv.cfg.OriginPatterns)
	if err != nil {
		srv.log.Debug("websocket upgrade failed", "err", err)
		return // Accept has written the HTTP error
	}
	if err := srv.ServeTransport(r.Context(), ws); err != nil {
		srv.log.Debug("client transport ended", "remote", r.RemoteAddr, "err", err)
	}
}
