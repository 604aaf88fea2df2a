package steward

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"time"
)

// ID prefixes. IDs are opaque to callers; inside, they start with the creation
// time, so that ordering by id is roughly ordering by creation; cursor pages
// rely only on ids being unique and totally ordered.
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
// 80 fresh random bits, in lower-case Crockford base32. The random part is
// drawn anew every time, so no id can be derived from another (SPEC §4
// "Unknown and foreign look alike"). Ids of different milliseconds sort by
// time; within one millisecond their order is random, which cursor pages
// do not mind: they need a total order, not creation order.
func NewID(prefix string, now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	rand.Read(b[6:])
	return prefix + idEncoding.EncodeToString(b[:])
}

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
