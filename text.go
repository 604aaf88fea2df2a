package steward

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// ValidText reports whether s is text both stores keep alike: valid UTF-8
// without NUL bytes. PostgreSQL refuses the others and SQLite would keep
// them, so they are refused before any store sees them (SPEC §4 "Text").
func ValidText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// TextError is the 422 invalid_text error naming bad fields.
func TextError(fields ...string) *Error {
	bad := make([]FieldError, len(fields))
	for i, f := range fields {
		bad[i] = FieldError{Field: f, Message: "must be valid UTF-8 text without NUL bytes"}
	}
	return Invalid("invalid_text", "Text must be valid UTF-8 without NUL bytes.", bad...)
}

// checkText returns TextError for every field, value pair whose value is not
// ValidText, or nil. Service methods call it on what they take from the
// caller before it reaches a store (SPEC §4 "Text").
func checkText(pairs ...string) error {
	var bad []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if !ValidText(pairs[i+1]) {
			bad = append(bad, pairs[i])
		}
	}
	if len(bad) > 0 {
		return TextError(bad...)
	}
	return nil
}

// checkTexts is checkText for a list field: each bad element is named by
// its index.
func checkTexts(field string, values []string) error {
	var bad []string
	for i, v := range values {
		if !ValidText(v) {
			bad = append(bad, field+"["+strconv.Itoa(i)+"]")
		}
	}
	if len(bad) > 0 {
		return TextError(bad...)
	}
	return nil
}
