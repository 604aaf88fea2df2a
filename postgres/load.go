package postgres

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/steward-iam/steward"
)

// The check index's load reads every membership and every user. On a large
// world that is millions of rows, and one stream through database/sql spends
// most of its time converting values the index does not keep. The scans
// here read only the columns the index uses, in PostgreSQL's binary format,
// straight from the wire, in several streams at once: each stream reads one
// range of the table's blocks (a TID range scan), and all of them read one
// snapshot, exported by the first and imported by the others, as parallel
// pg_dump does. fn is still called from one goroutine at a time.

// scanBatch is how many rows a stream decodes before handing them on.
const scanBatch = 2048

var (
	// minBlocksPerStream keeps small tables in one stream.
	minBlocksPerStream int64 = 1024
	// scanStreams is how many streams read a large table: one per core.
	scanStreams = func() int64 { return int64(max(1, min(runtime.NumCPU(), 8))) }
)

// loadMembershipColumns are the membership columns the check index reads.
const loadMembershipColumns = `id, account_id, user_id, kind, status, role, permissions, ends_at, partner_id, parent_id,
	allow_redelegation, delegates_end_at, grants`

// ScanMemberships calls fn with every membership, in no particular order,
// for loading the check index, one call at a time. It fills what the index
// reads: not GrantedBy, ManagedBy, AutoExtend, TermStartedAt, CreatedAt or
// UpdatedAt. m is valid only during the call: fn must not keep it (its
// strings it may).
func (db *DB) ScanMemberships(ctx context.Context, fn func(m *steward.Membership) error) error {
	var mu sync.Mutex
	err := scanParallel(ctx, db.Pool, "memberships", `SELECT `+loadMembershipColumns+` FROM memberships WHERE %s`,
		func() rowDecoder[steward.Membership] { return newMembershipDecoder() },
		func(batch []steward.Membership) error {
			mu.Lock()
			defer mu.Unlock()
			for i := range batch {
				if err := fn(&batch[i]); err != nil {
					return err
				}
			}
			return nil
		})
	if err != nil {
		return db.Store.Wrap(err, "scan memberships")
	}
	return nil
}

// ScanUserStatuses calls fn with every user's id and status but the
// deleted ones', for loading the check index, one call at a time.
func (db *DB) ScanUserStatuses(ctx context.Context, fn func(id string, status steward.UserStatus) error) error {
	var mu sync.Mutex
	err := scanParallel(ctx, db.Pool, "users", `SELECT id, status FROM users WHERE status <> '`+string(steward.UserDeleted)+`' AND %s`,
		func() rowDecoder[userStatus] { return &userStatusDecoder{} },
		func(batch []userStatus) error {
			mu.Lock()
			defer mu.Unlock()
			for i := range batch {
				if err := fn(batch[i].id, batch[i].status); err != nil {
					return err
				}
			}
			return nil
		})
	if err != nil {
		return db.Store.Wrap(err, "scan users")
	}
	return nil
}

type userStatus struct {
	id     string
	status steward.UserStatus
}

// snapshotTx is the transaction of each stream: one snapshot for all its
// statements, which the first exports and the others import.
var snapshotTx = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}

// rowDecoder turns one row's binary values into a T; each stream has its own.
type rowDecoder[T any] interface {
	decode(values [][]byte, into *T) error
}

// scanParallel runs query (a SELECT over table whose %s is where each
// stream's range of rows goes) in one stream per core, over one snapshot.
// Each stream decodes its rows in batches and calls each with them from its
// own goroutine: each runs concurrently with itself. A batch is reused once
// each returns.
func scanParallel[T any](ctx context.Context, pool *pgxpool.Pool, table, query string, decoder func() rowDecoder[T], each func(batch []T) error) error {
	g, gctx := errgroup.WithContext(ctx)
	// The pool's transactions hand their connection back when they end.
	tx, err := pool.BeginTx(gctx, snapshotTx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read only
	var snapshot string
	var blocks int64
	if err := tx.QueryRow(gctx, `SELECT pg_export_snapshot(), pg_relation_size($1::regclass) / current_setting('block_size')::bigint`, table).
		Scan(&snapshot, &blocks); err != nil {
		return err
	}
	n := max(1, min(scanStreams(), blocks/minBlocksPerStream))
	for i := range n {
		// Stream i reads blocks [lo, hi); the last one has no upper bound,
		// for rows written past the end since the size was read.
		where := fmt.Sprintf(`ctid >= '(%d,0)'::tid`, blocks*i/n)
		if i < n-1 {
			where += fmt.Sprintf(` AND ctid < '(%d,0)'::tid`, blocks*(i+1)/n)
		}
		g.Go(func() error {
			var c *pgconn.PgConn
			if i == 0 {
				c = tx.Conn().PgConn()
			} else {
				tx, err := pool.BeginTx(gctx, snapshotTx)
				if err != nil {
					return err
				}
				defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read only
				if _, err := tx.Exec(gctx, `SET TRANSACTION SNAPSHOT '`+snapshot+`'`); err != nil {
					return err
				}
				c = tx.Conn().PgConn()
			}
			return readStream(gctx, c, fmt.Sprintf(query, where), decoder(), each)
		})
	}
	return g.Wait()
}

// readStream reads query's rows in binary, decodes them and hands them to
// each in batches.
func readStream[T any](ctx context.Context, c *pgconn.PgConn, query string, d rowDecoder[T], each func([]T) error) error {
	rr := c.ExecParams(ctx, query, nil, nil, nil, []int16{pgx.BinaryFormatCode})
	batch := make([]T, 0, scanBatch)
	for rr.NextRow() {
		batch = batch[:len(batch)+1]
		if err := d.decode(rr.Values(), &batch[len(batch)-1]); err != nil {
			rr.Close() //nolint:errcheck // the decode error is the one to report
			return err
		}
		if len(batch) == scanBatch {
			if err := each(batch); err != nil {
				rr.Close() //nolint:errcheck // the callback's error is the one to report
				return err
			}
			batch = batch[:0]
		}
	}
	if _, err := rr.Close(); err != nil {
		return err
	}
	if len(batch) > 0 {
		return each(batch)
	}
	return nil
}

// membershipDecoder decodes loadMembershipColumns. The few distinct values
// of some columns (kinds, statuses, roles, partners, permission lists) are
// made into strings once per stream, not once per row.
type membershipDecoder struct {
	words map[string]string
	perms map[string][]string
}

func newMembershipDecoder() *membershipDecoder {
	return &membershipDecoder{words: map[string]string{}, perms: map[string][]string{}}
}

// word returns b as a string shared with the rows before it.
func (d *membershipDecoder) word(b []byte) string {
	if s, ok := d.words[string(b)]; ok {
		return s
	}
	s := string(b)
	d.words[s] = s
	return s
}

func (d *membershipDecoder) decode(v [][]byte, m *steward.Membership) error {
	if len(v) != 13 {
		return fmt.Errorf("membership row has %d columns, want 13", len(v))
	}
	perms, ok := d.perms[string(v[6])]
	if !ok {
		if err := json.Unmarshal(v[6], &perms); err != nil {
			return fmt.Errorf("membership %s: permissions: %w", v[0], err)
		}
		perms = slices.Clip(perms)
		if perms == nil {
			perms = []string{}
		}
		d.perms[string(v[6])] = perms
	}
	*m = steward.Membership{
		ID: string(v[0]), AccountID: string(v[1]), UserID: string(v[2]),
		Kind: steward.MembershipKind(d.word(v[3])), Status: steward.MembershipStatus(d.word(v[4])), Role: d.word(v[5]),
		Permissions: perms, EndsAt: binaryTime(v[7]), PartnerID: d.word(v[8]), ParentID: string(v[9]),
		AllowRedelegation: len(v[10]) == 4 && binary.BigEndian.Uint32(v[10]) != 0, DelegatesEndAt: binaryTime(v[11]),
	}
	if g := v[12]; len(g) > 0 && string(g) != "[]" {
		if err := json.Unmarshal(g, &m.Grants); err != nil {
			return fmt.Errorf("membership %s: grants: %w", v[0], err)
		}
	}
	return nil
}

// binaryTime decodes a nullable bigint of microseconds in binary format.
func binaryTime(b []byte) *time.Time {
	if len(b) != 8 {
		return nil
	}
	t := time.UnixMicro(int64(binary.BigEndian.Uint64(b))).UTC()
	return &t
}

type userStatusDecoder struct{ statuses map[string]steward.UserStatus }

func (d *userStatusDecoder) decode(v [][]byte, u *userStatus) error {
	if len(v) != 2 {
		return fmt.Errorf("user row has %d columns, want 2", len(v))
	}
	s, ok := d.statuses[string(v[1])]
	if !ok {
		if d.statuses == nil {
			d.statuses = map[string]steward.UserStatus{}
		}
		s = steward.UserStatus(v[1])
		d.statuses[string(v[1])] = s
	}
	*u = userStatus{id: string(v[0]), status: s}
	return nil
}
