package serve

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// webFS holds the web page (hand-written HTML/CSS/JS, no build step, no CDN) and the
// OpenAPI description.
//
//go:embed web openapi.yaml
var webFS embed.FS

// contentSecurityPolicy allows only our own origin: no inline script, no CDN, photos
// shown from blob: URLs.
const contentSecurityPolicy = "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; connect-src 'self'; manifest-src 'self'; worker-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// webRoutes registers the page, its assets, the PWA manifest and service worker.
func (s *Server) webRoutes(mux *http.ServeMux) {
	web, err := fs.Sub(webFS, "web")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	files := http.FileServerFS(web)
	serveFile := func(name string, extra map[string]string) handlerFunc {
		return func(w http.ResponseWriter, r *http.Request) error {
			h := w.Header()
			h.Set("Content-Security-Policy", contentSecurityPolicy)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("Cache-Control", "no-cache")
			for k, v := range extra {
				h.Set(k, v)
			}
			http.ServeFileFS(w, r, web, name)
			return nil
		}
	}
	s.route(mux, "GET /{$}", false, serveFile("index.html", nil))
	s.route(mux, "GET /manifest.webmanifest", false, serveFile("manifest.webmanifest", map[string]string{"Content-Type": "application/manifest+json"}))
	s.route(mux, "GET /sw.js", false, serveFile("sw.js", map[string]string{"Service-Worker-Allowed": "/"}))
	s.route(mux, "GET /static/", false, func(w http.ResponseWriter, r *http.Request) error {
		name := strings.TrimPrefix(r.URL.Path, "/static/")
		if name == "" || strings.HasSuffix(name, "/") || name == "index.html" {
			return errorf(http.StatusNotFound, codeNotFound, "no such file: %s", r.URL.Path)
		}
		if _, err := fs.Stat(web, name); err != nil {
			return errorf(http.StatusNotFound, codeNotFound, "no such file: %s", r.URL.Path)
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-cache")
		http.StripPrefix("/static", files).ServeHTTP(w, r)
		return nil
	})
}

// handleOpenAPI serves the hand-written OpenAPI 3 description of the API.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) error {
	b, err := webFS.ReadFile("openapi.yaml")
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/yaml")
	_, err = w.Write(b)
	return err
}
