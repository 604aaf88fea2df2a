package password_test

import (
	"encoding/base64"
	"regexp"
	"strings"
	"testing"

	"github.com/steward-iam/steward/password"
	"golang.org/x/crypto/argon2"
)

// cheap keeps the tests fast under -race; the format is the same.
var cheap = &password.Hasher{Memory: 64, Time: 1, Threads: 1}

var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$`)

func TestHashVerify(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    *password.Hasher
	}{
		{"Default", password.New()},
		{"Cheap", cheap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hash, err := tc.h.Hash("correct horse battery staple")
			if err != nil {
				t.Fatal(err)
			}
			if !phcRE.MatchString(hash) {
				t.Errorf("Hash=%q, want a PHC argon2id string", hash)
			}
			if strings.Contains(hash, "correct horse") {
				t.Errorf("Hash=%q contains the password", hash)
			}
			if !tc.h.Verify(hash, "correct horse battery staple") {
				t.Error("Verify(right password)=false, want true")
			}
			if tc.h.Verify(hash, "correct horse battery stapler") {
				t.Error("Verify(wrong password)=true, want false")
			}
			if tc.h.Verify(hash, "") {
				t.Error("Verify(empty password)=true, want false")
			}
		})
	}
}

func TestHashSaltsDiffer(t *testing.T) {
	a, _ := cheap.Hash("same password")
	b, _ := cheap.Hash("same password")
	if a == b {
		t.Errorf("two hashes of one password are equal (%q): the salt is not random", a)
	}
}

// The parameters come from the stored hash, so raising the cost later keeps
// old hashes valid.
func TestVerifyUsesStoredParameters(t *testing.T) {
	hash, err := cheap.Hash("s3cret-password")
	if err != nil {
		t.Fatal(err)
	}
	if !password.New().Verify(hash, "s3cret-password") {
		t.Error("a default Hasher does not verify a hash made with other parameters")
	}
}

// A hash written by any argon2id implementation in PHC form verifies.
func TestVerifyKnownHash(t *testing.T) {
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte("hunter22"), salt, 1, 64, 1, 32)
	enc := base64.RawStdEncoding
	hash := "$argon2id$v=19$m=64,t=1,p=1$" + enc.EncodeToString(salt) + "$" + enc.EncodeToString(key)
	if !cheap.Verify(hash, "hunter22") {
		t.Errorf("Verify(%q)=false, want true", hash)
	}
}

func TestVerifyMalformed(t *testing.T) {
	good, _ := cheap.Hash("pw-pw-pw-pw")
	parts := strings.Split(good, "$")
	join := func(p ...string) string { return strings.Join(p, "$") }
	for _, tc := range []struct {
		name string
		hash string
	}{
		{"ErrEmpty", ""},
		{"ErrPlain", "pw-pw-pw-pw"},
		{"ErrArgon2i", join("", "argon2i", parts[2], parts[3], parts[4], parts[5])},
		{"ErrVersion", join("", "argon2id", "v=16", parts[3], parts[4], parts[5])},
		{"ErrParams", join("", "argon2id", parts[2], "m=64,t=1", parts[4], parts[5])},
		{"ErrParamsTrailing", join("", "argon2id", parts[2], parts[3]+",x=1", parts[4], parts[5])},
		{"ErrZeroTime", join("", "argon2id", parts[2], "m=64,t=0,p=1", parts[4], parts[5])},
		{"ErrHugeMemory", join("", "argon2id", parts[2], "m=4294967295,t=1,p=1", parts[4], parts[5])},
		{"ErrSalt", join("", "argon2id", parts[2], parts[3], "!!!", parts[5])},
		{"ErrHash", join("", "argon2id", parts[2], parts[3], parts[4], "!!!")},
		{"ErrShortHash", join("", "argon2id", parts[2], parts[3], parts[4], "AAAA")},
		{"ErrExtraField", good + "$x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if cheap.Verify(tc.hash, "pw-pw-pw-pw") {
				t.Errorf("Verify(%q)=true, want false", tc.hash)
			}
		})
	}
}

func TestZeroHasher(t *testing.T) {
	if _, err := new(password.Hasher).Hash("pw"); err == nil {
		t.Error("zero Hasher: Hash err=nil, want an error")
	}
}
