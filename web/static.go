package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var staticFS embed.FS

// staticFile is one embedded static file and its content hash.
type staticFile struct {
	name  string
	hash  string
	data  []byte
	ctype string
}

// assets serves the static files under /static/<hash>/<name>: a change of
// content is a change of URL, so every answer may be cached for a year.
type assets struct {
	byName map[string]*staticFile
}

func loadAssets() (*assets, error) {
	a := &assets{byName: map[string]*staticFile{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		name := strings.TrimPrefix(p, "static/")
		ctype := mime.TypeByExtension(path.Ext(name))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		a.byName[name] = &staticFile{name: name, hash: hex.EncodeToString(sum[:])[:16], data: data, ctype: ctype}
		return nil
	})
	return a, err
}

// url returns the content-hash URL of a static file; an unknown name is a
// programming error caught when the templates are first executed in tests.
func (a *assets) url(name string) (string, error) {
	f, ok := a.byName[name]
	if !ok {
		return "", fmt.Errorf("no static file %q", name)
	}
	return "/static/" + f.hash + "/" + f.name, nil
}

// ServeHTTP serves GET /static/{hash}/{name...}. A stale hash is a 404, so a
// cache never keeps the wrong content under a URL.
func (a *assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := a.byName[r.PathValue("name")]
	if !ok || f.hash != r.PathValue("hash") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", f.ctype)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Set("ETag", `"`+f.hash+`"`)
	if r.Header.Get("If-None-Match") == `"`+f.hash+`"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(f.data)
}
