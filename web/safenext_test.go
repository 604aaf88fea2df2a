package web

import "testing"

// TestSafeNext: the page to come back to after sign-in is a path on this
// site, never another site.
func TestSafeNext(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"Path", "/access-links/abc", "/access-links/abc"},
		{"PathWithQuery", "/accounts/a/users?after=x", "/accounts/a/users?after=x"},
		{"ErrEmpty", "", "/"},
		{"ErrSchemeRelative", "//evil.example/x", "/"},
		{"ErrBackslash", "/\\evil.example", "/"},
		{"ErrAbsolute", "https://evil.example/", "/"},
		{"ErrNewline", "/x\r\nSet-Cookie: a=b", "/"},
		{"ErrRelative", "evil", "/"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := safeNext(tt.in); got != tt.want {
				t.Errorf("safeNext(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
