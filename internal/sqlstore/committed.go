package sqlstore

import (
	"sync"
	"time"

	"github.com/steward-iam/steward"
)

// committedRevs is how many of its last revisions a process remembers.
const committedRevs = 4096

// committed remembers the change-feed rows of the revisions this process
// committed last, as ChangesSince would read them, so that the node's
// check index applies its own writes without reading the feed back (see
// CommittedChanges). Rows of a revision are immutable once committed.
type committed struct {
	mu   sync.Mutex
	revs map[int64][]steward.Change
	ring [committedRevs]int64 // the remembered revisions, oldest replaced first
	next int
}

func (c *committed) add(rev int64, changes []steward.Change, at time.Time) {
	rows := make([]steward.Change, len(changes))
	at = fromMicros(micros(at)) // as the feed keeps it
	for i, ch := range changes {
		rows[i] = steward.Change{Revision: rev, AccountID: ch.AccountID, Entity: ch.Entity, EntityID: ch.EntityID, Time: at}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.revs == nil {
		c.revs = make(map[int64][]steward.Change, committedRevs)
	}
	if old := c.ring[c.next]; old != 0 {
		delete(c.revs, old)
	}
	c.ring[c.next], c.next = rev, (c.next+1)%committedRevs
	c.revs[rev] = rows
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
