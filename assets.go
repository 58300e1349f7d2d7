package crossbar

import (
	"embed"
	"net/http"
)

// The browser client, served by Handler below its prefix, generated from
// its sources in js/src.
//
//go:generate go run ./internal/jsbuild
//go:embed js/crossbar.js js/crossbar.mjs js/crossbar.d.ts
var assets embed.FS

// serveAsset writes the file js/name with the given content type.
func serveAsset(w http.ResponseWriter, r *http.Request, name, contentType string) {
	b, err := assets.ReadFile("js/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b) // a client that went away: nothing to do
}
