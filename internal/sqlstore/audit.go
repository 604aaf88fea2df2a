package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/steward-iam/steward"
)

const eventColumns = `id, account_id, seq, time, actor, action, target_type, target_id, details, prev_hash, hash`

// auditHead is an account's chain head as a transaction has advanced it.
type auditHead struct {
	seq   int64
	hash  string
	dirty bool // advanced since it was read or last written back
}

// AppendEvent numbers and seals e after the head of its account's chain. The
// head row is locked for the rest of the transaction, so appends to one
// account queue and the chain has no forks. The transaction keeps the head
// it locked and writes it back once, before its changes (flushAuditHeads),
// so that a request recording many events in one account reads and writes
// the head once. The sealed event is held back and inserted with the
// others the transaction recorded before its next statement of the audit
// tables or its commit (flushEvents): one statement for all of them where
// the dialect has one, sent with the commit where the dialect allows it.
func (s *Store) AppendEvent(ctx context.Context, e *steward.Event) error {
	if !s.inTx {
		return s.InTx(ctx, func(tx steward.Store) error { return tx.AppendEvent(ctx, e) })
	}
	h := (*s.heads)[e.AccountID]
	if h == nil {
		h = &auditHead{}
		err := s.readHead(ctx, e.AccountID, h)
		if err == sql.ErrNoRows {
			return steward.NotFound("account", e.AccountID)
		} else if err != nil {
			return s.wrap(err, "read audit head")
		}
		if *s.heads == nil {
			*s.heads = map[string]*auditHead{}
		}
		(*s.heads)[e.AccountID] = h
	}
	seq, prev := h.seq, h.hash
	if len(e.Details) == 0 {
		e.Details = json.RawMessage("{}")
	}
	e.Seq = seq + 1
	e.Seal(prev)
	*s.events = append(*s.events, e)
	h.seq, h.hash, h.dirty = e.Seq, e.Hash, true
	return nil
}

// readHead reads and locks the chain head of an account, in the round trip
// of the statements held back where the dialect allows it.
func (s *Store) readHead(ctx context.Context, accountID string, h *auditHead) error {
	err := s.queryRowSent(ctx, `SELECT seq, hash FROM audit_heads WHERE account_id = $1`+s.dialect.ForUpdate, accountID).Scan(&h.seq, &h.hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return s.wrap(err, "read audit head")
	}
	return err
}

// queryRowSent runs a query of one row. Inside a transaction of
// Dialect.Send with statements held back (BEGIN included, see runConnTx),
// they and the query go in one round trip when the row is scanned.
func (s *Store) queryRowSent(ctx context.Context, query string, args ...any) interface{ Scan(...any) error } {
	if s.conn == nil || s.later == nil || *s.done || len(*s.later) == 0 {
		return s.q.QueryRowContext(ctx, query, args...)
	}
	return sentRow{s: s, ctx: ctx, query: query, args: args}
}

// sentRow is a row of queryRowSent: Scan sends the held-back statements,
// the held-back audit events when the query reads the audit tables, and
// the query.
type sentRow struct {
	s     *Store
	ctx   context.Context
	query string
	args  []any
}

func (r sentRow) Scan(dest ...any) error {
	s := r.s
	stmts := *s.later
	*s.later = nil
	if strings.Contains(r.query, "audit_") {
		if st, ok := s.eventsStmt(); ok {
			stmts = append(stmts, Stmt{Query: st.query, Args: st.args})
		}
	}
	stmts = append(stmts, Stmt{Query: r.query, Args: r.args, Row: dest})
	ctx, cancel := s.q.bound(r.ctx)
	defer cancel()
	if _, err := s.dialect.Send(ctx, s.conn, stmts, false); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return sql.ErrNoRows
		}
		return s.q.classify(err)
	}
	return nil
}

const insertEventSQL = `INSERT INTO audit_events (` + eventColumns + `, actor_user_id, actor_home_account_id, actor_partner_id)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)`

// stmt is one statement and its arguments.
type stmt struct {
	query string
	args  []any
}

// eventsStmt returns the dialect's one statement that inserts the held-back
// events and writes back the advanced chain heads, and marks those heads
// written; ok is false when there is nothing to send or the dialect has no
// such statement.
func (s *Store) eventsStmt() (st stmt, ok bool) {
	evs := *s.events
	if len(evs) == 0 || s.dialect.InsertEvents == "" {
		return stmt{}, false
	}
	*s.events = nil
	// id, account_id, seq, time, actor, action, target_type, target_id,
	// details, prev_hash, hash, actor_user_id, actor_home_account_id,
	// actor_partner_id: one array each.
	var text [12][]string
	for j := range text {
		text[j] = make([]string, len(evs))
	}
	seqs, times := make([]int64, len(evs)), make([]int64, len(evs))
	for i, e := range evs {
		seqs[i], times[i] = e.Seq, micros(e.Time)
		for j, v := range [12]string{e.ID, e.AccountID, jsonText(e.Actor), e.Action, e.TargetType, e.TargetID, string(e.Details),
			e.PrevHash, e.Hash, e.Actor.UserID, e.Actor.HomeAccountID, e.Actor.PartnerID} {
			text[j][i] = v
		}
	}
	var ids, hashes []string
	var hseqs []int64
	for _, id := range s.dirtyHeads() {
		h := (*s.heads)[id]
		ids, hseqs, hashes = append(ids, id), append(hseqs, h.seq), append(hashes, h.hash)
		h.dirty = false
	}
	args := []any{text[0], text[1], seqs, times, text[2], text[3], text[4], text[5], text[6], text[7], text[8], text[9], text[10], text[11]}
	if len(ids) == 1 && s.dialect.InsertEventsOneHead != "" {
		return stmt{s.dialect.InsertEventsOneHead, append(args, ids[0], hseqs[0], hashes[0])}, true
	}
	return stmt{s.dialect.InsertEvents, append(args, ids, hseqs, hashes)}, true
}

// flushEvents inserts the events the transaction holds back; it runs
// before each of the transaction's statements of the audit tables
// (querier.pre) and before its changes, so that nothing reads the log
// without them.
func (s *Store) flushEvents(ctx context.Context) error {
	if s.events == nil || len(*s.events) == 0 {
		return nil
	}
	if st, ok := s.eventsStmt(); ok {
		_, err := s.exec(ctx, "insert events", st.query, st.args...)
		return err
	}
	evs := *s.events
	*s.events = nil
	for _, e := range evs {
		if _, err := s.exec(ctx, "insert event", insertEventSQL,
			e.ID, e.AccountID, e.Seq, micros(e.Time), jsonText(e.Actor), e.Action, e.TargetType, e.TargetID, string(e.Details), e.PrevHash, e.Hash,
			e.Actor.UserID, e.Actor.HomeAccountID, e.Actor.PartnerID); err != nil {
			return err
		}
	}
	return nil
}

// dirtyHeads returns the accounts whose chain heads the transaction
// advanced and has not written back, in order.
func (s *Store) dirtyHeads() []string {
	if s.heads == nil {
		return nil
	}
	var ids []string
	for id, h := range *s.heads {
		if h.dirty {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// flushAuditHeads inserts the held-back events and writes back the chain
// heads the transaction advanced, in account order.
func (s *Store) flushAuditHeads(ctx context.Context) error {
	if err := s.flushEvents(ctx); err != nil {
		return err
	}
	for _, id := range s.dirtyHeads() {
		h := (*s.heads)[id]
		if _, err := s.exec(ctx, "advance audit head", `UPDATE audit_heads SET seq = $2, hash = $3 WHERE account_id = $1`, id, h.seq, h.hash); err != nil {
			return err
		}
		h.dirty = false
	}
	return nil
}

// FindEvents pages through events, newest first.
func (s *Store) FindEvents(ctx context.Context, f steward.AuditFilter) ([]*steward.Event, string, error) {
	var w where
	if f.AccountID != "" {
		w.add(`account_id = ?`, f.AccountID)
	}
	if f.ActorHomeAccountID != "" {
		w.add(`actor_home_account_id = ?`, f.ActorHomeAccountID)
	}
	if f.ActorUserID != "" {
		w.add(`actor_user_id = ?`, f.ActorUserID)
	}
	if f.ActorPartnerID != "" {
		w.add(`actor_partner_id = ?`, f.ActorPartnerID)
	}
	if f.Action != "" {
		w.add(`action = ?`, f.Action)
	}
	if f.Since != nil {
		w.add(`time >= ?`, micros(*f.Since))
	}
	if f.Until != nil {
		w.add(`time < ?`, micros(*f.Until))
	}
	// One account's log follows its chain: newest sequence number first, the
	// cursor a sequence number. Across accounts (a partner's view) events go
	// by id, which is creation time.
	order, cursor := "id", func(e *steward.Event) string { return e.ID }
	if f.AccountID != "" {
		order, cursor = "seq", func(e *steward.Event) string { return strconv.FormatInt(e.Seq, 10) }
	}
	if f.After != "" {
		if order == "seq" {
			seq, err := strconv.ParseInt(f.After, 10, 64)
			if err != nil {
				return nil, "", &steward.Error{Kind: steward.EBADREQUEST, Code: "bad_cursor", Message: "The cursor is not one this list gave out; start again without it.",
					Fields: []steward.FieldError{{Field: "cursor", Message: "is not a cursor of this list"}}}
			}
			w.add(`seq < ?`, seq)
		} else {
			w.add(`id < ?`, f.After)
		}
	}
	limit := steward.Page{Limit: f.Limit}.Normalize().Limit
	rows, err := s.q.QueryContext(ctx, `SELECT `+eventColumns+` FROM audit_events`+w.sql()+` ORDER BY `+order+` DESC`+w.limit(limit), w.args...)
	if err != nil {
		return nil, "", s.wrap(err, "find events")
	}
	defer rows.Close()
	var out []*steward.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	out, next := page(out, limit, cursor)
	return out, next, nil
}

// ScanEvents calls fn with each event of the account in sequence order.
func (s *Store) ScanEvents(ctx context.Context, accountID string, fn func(*steward.Event) error) error {
	rows, err := s.q.QueryContext(ctx, `SELECT `+eventColumns+` FROM audit_events WHERE account_id = $1 ORDER BY seq`, accountID)
	if err != nil {
		return s.wrap(err, "scan events")
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

func scanEvent(row interface{ Scan(...any) error }) (*steward.Event, error) {
	var e steward.Event
	var at int64
	var actor, details string
	if err := row.Scan(&e.ID, &e.AccountID, &e.Seq, &at, &actor, &e.Action, &e.TargetType, &e.TargetID, &details, &e.PrevHash, &e.Hash); err != nil {
		return nil, err
	}
	e.Time, e.Details = fromMicros(at), json.RawMessage(details)
	return &e, json.Unmarshal([]byte(actor), &e.Actor)
}
