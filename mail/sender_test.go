package mail_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/mail"
	"github.com/steward-iam/steward/mail/mailtest"
	"github.com/steward-iam/steward/sqlite"
)

var ctx = context.Background()

// MustOpen opens and migrates a fresh SQLite database.
func MustOpen(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(filepath.Join(tb.TempDir(), "steward.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return db
}

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// enqueue writes a message into the outbox as the Service does.
func enqueue(tb testing.TB, db *sqlite.DB, id, to, subject, text string) *steward.Message {
	tb.Helper()
	m := &steward.Message{ID: id, To: to, Subject: subject, Text: text, AccountID: "acc_1", Kind: "access_link.approved", CreatedAt: t0, NextAttemptAt: t0}
	if err := db.InTx(ctx, func(tx steward.Store) error { return tx.EnqueueMessage(ctx, m) }); err != nil {
		tb.Fatal(err)
	}
	return m
}

func newSender(tb testing.TB, db *sqlite.DB, cfg mail.Config, now *time.Time) *mail.Sender {
	tb.Helper()
	s, err := mail.NewSender(db, cfg, nil)
	if err != nil {
		tb.Fatal(err)
	}
	s.Now = func() time.Time { return *now }
	return s
}

func stored(tb testing.TB, db *sqlite.DB, id string) *steward.Message {
	tb.Helper()
	all, err := db.FindMessages(ctx, 100)
	if err != nil {
		tb.Fatal(err)
	}
	for _, m := range all {
		if m.ID == id {
			return m
		}
	}
	tb.Fatalf("message %s not in the outbox", id)
	return nil
}

func TestSMTP(t *testing.T) {
	srv := mailtest.NewServer(t)
	db := MustOpen(t)
	now := t0
	s := newSender(t, db, mail.Config{SMTP: srv.URL(), From: "Steward <noreply@steward.example>"}, &now)
	enqueue(t, db, "msg_1", "ada@agency.example", "Acme approved your partner access", "You are now a partner admin of Acme for Agency.\n")

	n, err := s.SendDue(ctx)
	if err != nil || n != 1 {
		t.Fatalf("SendDue = %d, %v; want 1", n, err)
	}
	got := srv.Wait(1, 5*time.Second)[0]
	if got.Subject != "Acme approved your partner access" || !strings.Contains(got.Body, "partner admin of Acme for Agency") {
		t.Errorf("mail = %q / %q", got.Subject, got.Body)
	}
	if len(got.To) != 1 || got.To[0] != "ada@agency.example" || got.From != "noreply@steward.example" {
		t.Errorf("envelope = %s → %v", got.From, got.To)
	}
	if got.Header.Get("X-Steward-Kind") != "access_link.approved" || got.TLS {
		t.Errorf("header kind = %q, TLS = %v; want the kind over a plain connection", got.Header.Get("X-Steward-Kind"), got.TLS)
	}
	if m := stored(t, db, "msg_1"); m.SentAt == nil || m.Attempts != 1 || m.LastError != "" {
		t.Errorf("outbox entry = %+v, want sent after one attempt", m)
	}
	if n, _ := s.SendDue(ctx); n != 0 || len(srv.Mails()) != 1 {
		t.Error("a sent message went out again")
	}
}

func TestSMTPRetryBackoff(t *testing.T) {
	srv := mailtest.NewServer(t)
	srv.FailNext(2)
	db := MustOpen(t)
	now := t0
	s := newSender(t, db, mail.Config{SMTP: srv.URL(), Backoff: time.Minute, MaxBackoff: 3 * time.Minute}, &now)
	enqueue(t, db, "msg_1", "ada@agency.example", "Hello", "Body")

	for i, wantNext := range []time.Duration{time.Minute, 2 * time.Minute} {
		if n, err := s.SendDue(ctx); err != nil || n != 0 {
			t.Fatalf("attempt %d: SendDue = %d, %v; want a failure", i+1, n, err)
		}
		m := stored(t, db, "msg_1")
		if m.Attempts != i+1 || !m.NextAttemptAt.Equal(now.Add(wantNext)) || !strings.Contains(m.LastError, "try again later") {
			t.Fatalf("after attempt %d: %+v, want next attempt in %s", i+1, m, wantNext)
		}
		if n, _ := s.SendDue(ctx); n != 0 {
			t.Fatal("a backed-off message was retried before its time")
		}
		now = now.Add(wantNext)
	}
	if n, err := s.SendDue(ctx); err != nil || n != 1 {
		t.Fatalf("third attempt: SendDue = %d, %v; want delivery", n, err)
	}
	if len(srv.Wait(1, 5*time.Second)) != 1 {
		t.Error("no mail arrived")
	}
	if got := s.Backoff(10); got != 3*time.Minute {
		t.Errorf("Backoff(10) = %s, want the 3m cap", got)
	}
}

func TestSMTPGivesUp(t *testing.T) {
	db := MustOpen(t)
	now := t0
	// The server refuses every message.
	l := mailtest.NewServer(t)
	addr := l.Addr
	s := newSender(t, db, mail.Config{SMTP: "smtp://" + addr, MaxAttempts: 2, Backoff: time.Second, Timeout: 2 * time.Second}, &now)
	l.FailNext(10)
	enqueue(t, db, "msg_1", "ada@agency.example", "Hello", "Body")
	for range 2 {
		s.SendDue(ctx)
		now = now.Add(time.Hour)
	}
	m := stored(t, db, "msg_1")
	if m.SentAt != nil || !m.NextAttemptAt.Equal(mail.GiveUp) || !strings.HasPrefix(m.LastError, "gave up after 2 attempts") {
		t.Errorf("outbox entry = %+v, want given up", m)
	}
}

func TestSTARTTLSWhenOffered(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithStartTLS(), mailtest.WithAuth("relay", "s3cret"))
	db := MustOpen(t)
	now := t0
	s := newSender(t, db, mail.Config{SMTP: srv.URL(), TLSConfig: srv.TLSConfig}, &now)
	enqueue(t, db, "msg_1", "ada@agency.example", "Hello", "Body")
	if n, err := s.SendDue(ctx); err != nil || n != 1 {
		t.Fatalf("SendDue = %d, %v (%s)", n, err, stored(t, db, "msg_1").LastError)
	}
	if got := srv.Wait(1, 5*time.Second)[0]; !got.TLS || got.User != "relay" {
		t.Errorf("TLS = %v, user = %q; want STARTTLS and the URL's credentials", got.TLS, got.User)
	}
}

func TestSMTPS(t *testing.T) {
	srv := mailtest.NewTLSServer(t)
	db := MustOpen(t)
	now := t0
	s := newSender(t, db, mail.Config{SMTP: "smtps://" + srv.Addr, TLSConfig: srv.TLSConfig}, &now)
	enqueue(t, db, "msg_1", "ada@agency.example", "Hello", "Body")
	if n, err := s.SendDue(ctx); err != nil || n != 1 {
		t.Fatalf("SendDue = %d, %v (%s)", n, err, stored(t, db, "msg_1").LastError)
	}
	if got := srv.Wait(1, 5*time.Second)[0]; !got.TLS {
		t.Error("smtps delivered without TLS")
	}
}

func TestMailFolder(t *testing.T) {
	db := MustOpen(t)
	dir := filepath.Join(t.TempDir(), "mail")
	now := t0
	s := newSender(t, db, mail.Config{Dir: dir}, &now)
	enqueue(t, db, "msg_1", "ada@agency.example", "Acme approved your partner access", "You are now a partner admin of Acme.\n")
	if n, err := s.SendDue(ctx); err != nil || n != 1 {
		t.Fatalf("SendDue = %d, %v", n, err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != 1 || !strings.HasSuffix(files[0], "msg_1.eml") {
		t.Fatalf("files = %v, want one .eml", files)
	}
	raw, _ := os.ReadFile(files[0])
	for _, want := range []string{"To: <ada@agency.example>", "Subject: Acme approved your partner access", "partner admin of Acme"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("file lacks %q:\n%s", want, raw)
		}
	}
	if !strings.Contains(s.Describe(), "mail folder") {
		t.Errorf("Describe = %q", s.Describe())
	}
}

func TestRunKick(t *testing.T) {
	srv := mailtest.NewServer(t)
	db := MustOpen(t)
	s, err := mail.NewSender(db, mail.Config{SMTP: srv.URL(), Poll: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	m := &steward.Message{ID: "msg_1", To: "ada@agency.example", Subject: "Hello", Text: "Body", AccountID: "acc_1", Kind: "k", CreatedAt: time.Now(), NextAttemptAt: time.Now()}
	if err := db.InTx(ctx, func(tx steward.Store) error { return tx.EnqueueMessage(ctx, m) }); err != nil {
		t.Fatal(err)
	}
	s.Kick()
	srv.Wait(1, 5*time.Second)
	cancel()
	<-done
}

func TestParseSMTP(t *testing.T) {
	for _, tt := range []struct {
		name, url string
		ok        bool
	}{
		{"Plain", "smtp://relay.example:2525", true},
		{"Credentials", "smtp://user:pa%40ss@relay.example", true},
		{"TLS", "smtps://relay.example", true},
		{"ErrScheme", "http://relay.example", false},
		{"ErrNoHost", "smtp://", false},
		{"ErrPort", "smtp://relay.example:99999", false},
		{"ErrPath", "smtp://relay.example/x", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mail.ParseSMTP(tt.url)
			if (err == nil) != tt.ok {
				t.Errorf("ParseSMTP(%q) = %v, want ok=%v", tt.url, err, tt.ok)
			}
			if err != nil && strings.Contains(err.Error(), "pa%40ss") {
				t.Error("the error shows the password")
			}
		})
	}
}

func TestNonASCII(t *testing.T) {
	srv := mailtest.NewServer(t)
	db := MustOpen(t)
	now := t0
	s := newSender(t, db, mail.Config{SMTP: srv.URL()}, &now)
	enqueue(t, db, "msg_1", "zoë@agency.example", "Café Müller approved your partner access", "Vous êtes maintenant partner admin de Café Müller — bienvenue.\n")
	if n, err := s.SendDue(ctx); err != nil || n != 1 {
		t.Fatalf("SendDue = %d, %v (%s)", n, err, stored(t, db, "msg_1").LastError)
	}
	got := srv.Wait(1, 5*time.Second)[0]
	if got.Subject != "Café Müller approved your partner access" || !strings.Contains(got.Body, "partner admin de Café Müller — bienvenue") {
		t.Errorf("mail = %q / %q", got.Subject, got.Body)
	}
}
