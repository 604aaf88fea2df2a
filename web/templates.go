package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"strings"
	"time"

	"github.com/steward-iam/steward"
)

//go:embed templates
var templateFS embed.FS

// layoutFile is the frame every page is rendered in.
const layoutFile = "templates/layout.html"

// parseTemplates parses every page of templates/ with the layout, once at
// start; a page that fails to parse stops the server from starting.
func parseTemplates(a *assets) (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"static":     a.url,
		"date":       formatDate,
		"kindLabel":  kindLabel,
		"statusText": statusText,
		"join":       strings.Join,
		"has":        steward.Contains,
		"dateValue":  dateValue,
		"chain":      chainText,
	}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, layoutFile)
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	err = fs.WalkDir(templateFS, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == layoutFile {
			return err
		}
		if !strings.HasSuffix(p, ".html") {
			return fmt.Errorf("unexpected file %s among the templates", p)
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, p)
		if err != nil {
			return err
		}
		pages[strings.TrimSuffix(strings.TrimPrefix(p, "templates/"), ".html")] = t
		return nil
	})
	return pages, err
}

// render executes a page into a buffer first, so that a template error
// becomes an error page rather than half a page.
func (s *Server) render(name string, p *page) ([]byte, error) {
	t, ok := s.pages[name]
	if !ok {
		return nil, fmt.Errorf("no page %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

func formatDate(t any) string {
	switch v := t.(type) {
	case time.Time:
		if v.IsZero() {
			return ""
		}
		return v.UTC().Format("2 Jan 2006 15:04 UTC")
	case *time.Time:
		if v == nil {
			return ""
		}
		return v.UTC().Format("2 Jan 2006 15:04 UTC")
	}
	return ""
}

// kindLabel names a membership kind as the pages say it.
func kindLabel(k steward.MembershipKind) string {
	switch k {
	case steward.KindInternal:
		return "Internal user"
	case steward.KindPartner:
		return "Partner employee"
	case steward.KindExternal:
		return "External user"
	case steward.KindDelegate:
		return "Delegate"
	}
	return string(k)
}

func statusText(s any) string {
	v := fmt.Sprint(s)
	if v == "" {
		return ""
	}
	return strings.ToUpper(v[:1]) + strings.ReplaceAll(v[1:], "_", " ")
}
