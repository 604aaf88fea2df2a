package steward

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"sync"
	"time"
)

// ID prefixes. IDs are opaque to callers; inside, they start with the creation
// time so that ordering by id is ordering by creation, which cursor pages use.
const (
	PrefixAccount      = "acc_"
	PrefixUser         = "usr_"
	PrefixRole         = "rol_"
	PrefixMembership   = "mem_"
	PrefixRelationship = "rel_"
	PrefixInvitation   = "inv_"
	PrefixEvent        = "evt_"
	PrefixToken        = "tok_"
	PrefixAccessLink   = "lnk_"
)

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns a new id with the given prefix: 48 bits of milliseconds then
// 80 random bits, in lower-case Crockford base32. Within one process ids
// only grow: in the same millisecond the random part counts up from the
// last one, so id order is creation order there.
func NewID(prefix string, now time.Time) string {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	idMu.Lock()
	if ms <= idLast.ms {
		ms, b = idLast.ms, idLast.b
		for i := 15; i >= 6; i-- { // count up the random part
			if b[i]++; b[i] != 0 {
				break
			}
		}
	} else {
		binary.BigEndian.PutUint64(b[:8], ms<<16)
		rand.Read(b[6:])
	}
	idLast.ms, idLast.b = ms, b
	idMu.Unlock()
	return prefix + idEncoding.EncodeToString(b[:])
}

var (
	idMu   sync.Mutex
	idLast struct {
		ms uint64
		b  [16]byte
	}
)

// NewSecret returns a random token of 128+ bits with a readable prefix; only
// its HashSecret is ever stored.
func NewSecret(prefix string) string {
	return prefix + strings.ToLower(rand.Text()) + strings.ToLower(rand.Text())
}

// HashSecret returns the hex SHA-256 of a token, the only form kept at rest.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
