// Package static embeds the browser page, so the binary serves it from anywhere.
package static

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"time"
)

//go:embed index.html app.js ssehub.js style.css
var files embed.FS

const page = "index.html"

// Assets is the page's assets for rest.WithFileServer, without index.html:
// http.FileServer answers /static/index.html with a redirect to /static/,
// and the page must answer 200 at its own address, so ServePage serves it.
var Assets http.FileSystem = http.FS(withoutPage{files})

var started = time.Now()

// ServePage answers with index.html.
func ServePage(w http.ResponseWriter, r *http.Request) {
	body, err := files.ReadFile(page)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	http.ServeContent(w, r, page, started, bytes.NewReader(body))
}

type withoutPage struct{ fs.FS }

// Open hides the page and the directory itself (no listing at /static/).
func (f withoutPage) Open(name string) (fs.File, error) {
	if name == page || name == "." {
		return nil, fs.ErrNotExist
	}
	return f.FS.Open(name)
}
