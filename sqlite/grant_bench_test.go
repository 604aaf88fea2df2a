package sqlite_test

import (
	"fmt"
	"testing"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/storetest"
)

// BenchmarkGrant times one grant through the Service on SQLite, one writer:
// a user and its membership added, with their audit events and the change
// feed entry, in one transaction. Accounts rotate, as unrelated tenants do.
//
//	go test -run xxx -bench Grant -benchmem ./sqlite
func BenchmarkGrant(b *testing.B) {
	w := storetest.NewWorld(b, MustOpen(b))
	accounts := make([]string, 100)
	for i := range accounts {
		a, _ := w.Account(steward.AccountStandard)
		accounts[i] = a.ID
	}
	i := 0
	for b.Loop() {
		if _, _, err := w.Svc.AddMember(w.Op, accounts[i%len(accounts)], newMember(i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func newMember(i int) steward.NewMember {
	return steward.NewMember{Email: fmt.Sprintf("grant%d@bench.example", i), Name: "Grant", Role: steward.RoleMember}
}
