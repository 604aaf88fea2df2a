package steward_test

import (
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/steward-iam/steward"
)

// TestDecision_IDsNotDerivable: no id can be derived from another (SPEC §4
// "Unknown and foreign look alike"). Ids made in one millisecond share the
// time prefix; their random parts must not count up from one another.
func TestDecision_IDsNotDerivable(t *testing.T) {
	const crockford = "0123456789abcdefghjkmnpqrstvwxyz"
	random := func(id string) *big.Int {
		n := new(big.Int)
		for _, c := range strings.TrimPrefix(id, steward.PrefixUser) {
			n.Lsh(n, 5).Or(n, big.NewInt(int64(strings.IndexRune(crockford, c))))
		}
		n.Rsh(n, 2) // 26 characters carry 130 bits: 128 and two of padding
		return n.And(n, new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 80), big.NewInt(1)))
	}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	prev := steward.NewID(steward.PrefixUser, now)
	near := 0
	for range 1000 {
		id := steward.NewID(steward.PrefixUser, now)
		if id[:13] != prev[:13] { // the prefix and 45 of the 48 time bits
			t.Fatalf("ids of one millisecond %s and %s differ in their time prefix", prev, id)
		}
		// With a counter the next id is the previous plus one; with fresh
		// bits two ids are this close once in about 2^56 draws.
		if d := new(big.Int).Sub(random(id), random(prev)); d.CmpAbs(big.NewInt(1<<24)) < 0 {
			near++
		}
		prev = id
	}
	if near > 0 {
		t.Fatalf("%d of 1000 ids follow closely on the one before: the random part is derivable", near)
	}
}
