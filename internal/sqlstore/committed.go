package sqlstore

import (
	"sync"
	"time"

	"github.com/steward-iam/steward"
)

// A process remembers its last committedRevs revisions, and no more than
// committedRows feed rows in all: a burst of bulk writes (10,000 rows each)
// must not hold gigabytes. A revision of more rows is not remembered.
const (
	committedRevs = 4096
	committedRows = 1 << 16
)

// committed remembers the change-feed rows of the revisions this process
// committed last, as ChangesSince would read them, so that the node's
// check index applies its own writes without reading the feed back (see
// CommittedChanges). Rows of a revision are immutable once committed.
type committed struct {
	mu    sync.Mutex
	revs  map[int64][]steward.Change
	order []int64 // the remembered revisions, oldest first
	rows  int
}

func (c *committed) add(rev int64, changes []steward.Change, at time.Time) {
	if len(changes) > committedRows {
		return
	}
	rows := make([]steward.Change, len(changes))
	at = fromMicros(micros(at)) // as the feed keeps it
	for i, ch := range changes {
		rows[i] = steward.Change{Revision: rev, AccountID: ch.AccountID, Entity: ch.Entity, EntityID: ch.EntityID, Time: at}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.revs == nil {
		c.revs = map[int64][]steward.Change{}
	}
	for len(c.order) > 0 && (len(c.order) >= committedRevs || c.rows+len(rows) > committedRows) {
		old := c.order[0]
		c.order = c.order[1:]
		c.rows -= len(c.revs[old])
		delete(c.revs, old)
	}
	c.order = append(c.order, rev)
	c.revs[rev] = rows
	c.rows += len(rows)
}

// CommittedChanges returns the change-feed rows of every revision after
// from up to to, in feed order, when this process committed each of them
// and still remembers it; ok is false otherwise (another node committed
// one of them, or it is too old), and the feed must be read. The index
// uses it to apply its node's own writes (R-CHECK-3) with no round trip.
func (s *Store) CommittedChanges(from, to int64) (out []steward.Change, ok bool) {
	c := s.committed
	if c == nil || to <= from || to-from > committedRevs {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for rev := from + 1; rev <= to; rev++ {
		rows, ok := c.revs[rev]
		if !ok {
			return nil, false
		}
		out = append(out, rows...)
	}
	return out, true
}

// pendingChanges are a transaction's change-feed rows until it commits.
type pendingChanges struct {
	rev     int64
	changes []steward.Change
	at      time.Time
}

// remember records the transaction's changes once it committed.
func (s *Store) remember() {
	if p := *s.pending; p != nil && p.rev > 0 && s.committed != nil {
		s.committed.add(p.rev, p.changes, p.at)
	}
	*s.pending = nil
}
