package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/steward-iam/steward"
	"golang.org/x/crypto/argon2"
)

// Default cost parameters, after RFC 9106's second recommended option
// (64 MiB of memory, 3 passes) with one pass fewer and two lanes, which
// keeps a login on a small server near 50 ms.
const (
	DefaultMemory  = 64 * 1024 // KiB
	DefaultTime    = 2
	DefaultThreads = 2
	saltLen        = 16
	keyLen         = 32
)

// Limits on the parameters Verify accepts from a stored hash, so that a
// tampered row cannot make a login allocate gigabytes or spin for minutes.
const (
	maxMemory  = 1 << 20 // 1 GiB in KiB
	maxTime    = 16
	maxKeyLen  = 128
	maxSaltLen = 64
)

// Hasher hashes passwords with argon2id. The zero value is not usable; use
// New or set every field.
type Hasher struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8  // lanes
}

var _ steward.PasswordHasher = (*Hasher)(nil)

// New returns a Hasher with the default cost.
func New() *Hasher {
	return &Hasher{Memory: DefaultMemory, Time: DefaultTime, Threads: DefaultThreads}
}

// Hash returns the PHC string of password with a fresh random salt.
func (h *Hasher) Hash(password string) (string, error) {
	if h.Memory == 0 || h.Time == 0 || h.Threads == 0 {
		return "", errors.New("password: Hasher has zero cost parameters; build it with password.New")
	}
	salt := make([]byte, saltLen)
	rand.Read(salt) // never fails (crypto/rand)
	key := argon2.IDKey([]byte(password), salt, h.Time, h.Memory, h.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.Memory, h.Time, h.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches hash, using the parameters stored
// in hash. A malformed hash never matches. The final comparison is in
// constant time.
func (h *Hasher) Verify(hash, password string) bool {
	p, err := parse(hash)
	if err != nil {
		return false
	}
	key := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1
}

var b64 = base64.RawStdEncoding

type params struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

// parse reads a PHC argon2id string: "", "argon2id", "v=19", "m=…,t=…,p=…", salt, hash.
func parse(s string) (*params, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return nil, errors.New("not an argon2id PHC string")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return nil, fmt.Errorf("unsupported argon2 version %q", parts[2])
	}
	var p params
	var threads uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &threads); err != nil || n != 3 {
		return nil, fmt.Errorf("bad argon2 parameters %q", parts[3])
	}
	if fmt.Sprintf("m=%d,t=%d,p=%d", p.memory, p.time, threads) != parts[3] {
		return nil, fmt.Errorf("bad argon2 parameters %q", parts[3])
	}
	if p.memory == 0 || p.memory > maxMemory || p.time == 0 || p.time > maxTime || threads == 0 || threads > 255 || p.memory < 8*threads {
		return nil, fmt.Errorf("argon2 parameters out of range %q", parts[3])
	}
	p.threads = uint8(threads)
	var err error
	if p.salt, err = b64.DecodeString(parts[4]); err != nil || len(p.salt) < 8 || len(p.salt) > maxSaltLen {
		return nil, errors.New("bad salt")
	}
	if p.key, err = b64.DecodeString(parts[5]); err != nil || len(p.key) < 16 || len(p.key) > maxKeyLen {
		return nil, errors.New("bad hash")
	}
	return &p, nil
}
