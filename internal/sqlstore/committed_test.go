package sqlstore

import (
	"testing"
	"time"

	"github.com/steward-iam/steward"
)

// TestCommittedIsBounded: what a process remembers of its commits stays
// within committedRevs revisions and committedRows rows, oldest forgotten
// first, and a revision of more rows than that is not remembered at all
// (R-CHECK-3: the index then reads the feed).
func TestCommittedIsBounded(t *testing.T) {
	rows := func(n int) []steward.Change {
		out := make([]steward.Change, n)
		for i := range out {
			out[i] = steward.Change{AccountID: "acc_1", Entity: steward.ChangeMember, EntityID: "usr_1"}
		}
		return out
	}
	s := &Store{committed: &committed{}}
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for rev := int64(1); rev <= committedRevs+10; rev++ {
		s.committed.add(rev, rows(1), at)
	}
	if _, ok := s.CommittedChanges(0, 10); ok {
		t.Error("the oldest revisions are still remembered past committedRevs")
	}
	if got, ok := s.CommittedChanges(10, committedRevs+10); !ok || len(got) != committedRevs {
		t.Errorf("the last %d revisions: %d rows, %v", committedRevs, len(got), ok)
	}

	big := committedRows / 2
	s.committed.add(committedRevs+11, rows(big), at)
	s.committed.add(committedRevs+12, rows(big), at)
	if c := s.committed; c.rows > committedRows || len(c.revs) != len(c.order) {
		t.Errorf("remembered %d rows in %d revisions (%d in order), want at most %d rows", c.rows, len(c.revs), len(c.order), committedRows)
	}
	if got, ok := s.CommittedChanges(committedRevs+10, committedRevs+12); !ok || len(got) != 2*big {
		t.Errorf("the two bulk revisions: %d rows, %v", len(got), ok)
	}
	s.committed.add(committedRevs+13, rows(committedRows+1), at)
	if _, ok := s.CommittedChanges(committedRevs+12, committedRevs+13); ok {
		t.Error("a revision of more than committedRows rows was remembered")
	}
	if got, ok := s.CommittedChanges(committedRevs+11, committedRevs+12); !ok || len(got) != big || got[0].Revision != committedRevs+12 || !got[0].Time.Equal(at) {
		t.Errorf("the last bulk revision after a refused one: %d rows, %v", len(got), ok)
	}
}
