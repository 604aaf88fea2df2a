package http

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/steward-iam/steward"
)

// List is one page of a list: the items and the cursor of the next page,
// empty on the last page.
type List[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor" doc:"Pass as cursor for the next page; empty on the last page."`
}

// PageQuery holds the paging parameters of every list; list inputs embed
// it. They are strings so that a bad value is this API's 400, not a generic
// parse error.
type PageQuery struct {
	Limit  string `query:"limit" doc:"Items per page, 1 to 500 (default 50)." example:"50"`
	Cursor string `query:"cursor" doc:"The next_cursor of the previous page."`
}

// page parses the paging parameters: a limit that is not a number or a
// cursor this server did not make is a 400.
func (p PageQuery) page() (steward.Page, error) {
	var page steward.Page
	if p.Limit != "" {
		n, err := strconv.Atoi(p.Limit)
		if err != nil {
			return page, &steward.Error{Kind: steward.EBADREQUEST, Code: codeWrongType, Message: "limit must be a whole number.",
				Fields: []steward.FieldError{{Field: "limit", Message: "expected integer"}}}
		}
		if n < 1 {
			return page, steward.Invalid(codeInvalidValue, "limit must be at least 1.", steward.FieldError{Field: "limit", Message: "must be 1 to 500"})
		}
		page.Limit = n
	}
	after, err := decodeCursor(p.Cursor)
	if err != nil {
		return page, err
	}
	page.After = after
	return page.Normalize(), nil
}

// encodeCursor makes the store's "after" id opaque.
func encodeCursor(after string) string {
	if after == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(after))
}

// decodeCursor reverses encodeCursor; anything else is a 400.
func decodeCursor(cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(b) == 0 || len(b) > 200 || strings.IndexFunc(string(b), func(r rune) bool { return r > unicode.MaxASCII || !unicode.IsPrint(r) }) >= 0 {
		return "", &steward.Error{Kind: steward.EBADREQUEST, Code: "bad_cursor", Message: "The cursor is not one this server gave out; start again without it.",
			Fields: []steward.FieldError{{Field: "cursor", Message: "is not a cursor of this list"}}}
	}
	return string(b), nil
}

// parseTime parses an optional RFC 3339 query parameter.
func parseTime(field, v string) (*time.Time, error) {
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return nil, &steward.Error{Kind: steward.EBADREQUEST, Code: codeWrongType, Message: field + " must be an RFC 3339 time such as 2026-03-01T09:00:00Z.",
			Fields: []steward.FieldError{{Field: field, Message: "expected RFC 3339 date-time"}}}
	}
	t = t.UTC()
	return &t, nil
}
