package mail_test

import (
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/steward-iam/steward/mail"
)

// sent counts the .eml files of a mail folder.
func sent(t *testing.T, dir string) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	return len(files)
}

// When the node that sends mail dies, another takes the outbox over
// within seconds of the dead one's last renewal, not after a minute.
func TestLeaseLapsesSoonAfterACrash(t *testing.T) {
	db := MustOpen(t)
	dirA, dirB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	now := t0
	a := newSender(t, db, mail.Config{Dir: dirA}, &now)
	enqueue(t, db, "msg_1", "ada@agency.example", "First", "Body\n")
	if n, err := a.SendDue(ctx); err != nil || n != 1 {
		t.Fatalf("first node: SendDue = %d, %v, want 1", n, err)
	}
	// The first node dies here, without releasing its lease.
	enqueue(t, db, "msg_2", "ada@agency.example", "Second", "Body\n")
	b := newSender(t, db, mail.Config{Dir: dirB}, &now)
	now = t0.Add(time.Second)
	if n, err := b.SendDue(ctx); err != nil || n != 0 {
		t.Fatalf("second node while the lease holds: SendDue = %d, %v, want 0", n, err)
	}
	now = t0.Add(15 * time.Second)
	if n, err := b.SendDue(ctx); err != nil || n != 1 {
		t.Fatalf("second node 15s after the first died: SendDue = %d, %v, want 1", n, err)
	}
	if got := sent(t, dirB); got != 1 {
		t.Errorf("second node's mail folder has %d messages, want 1", got)
	}
}

// A restarted process on a store of its own (SQLite) takes the lease of
// its predecessor at once; a predecessor that still runs loses it.
func TestTakeOverAtRestart(t *testing.T) {
	db := MustOpen(t)
	dirA, dirB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	now := t0
	a := newSender(t, db, mail.Config{Dir: dirA, TakeOver: true}, &now)
	enqueue(t, db, "msg_1", "ada@agency.example", "First", "Body\n")
	if n, err := a.SendDue(ctx); err != nil || n != 1 {
		t.Fatalf("first process: SendDue = %d, %v, want 1", n, err)
	}
	enqueue(t, db, "msg_2", "ada@agency.example", "Second", "Body\n")
	now = t0.Add(time.Second)
	b := newSender(t, db, mail.Config{Dir: dirB, TakeOver: true}, &now)
	if n, err := b.SendDue(ctx); err != nil || n != 1 {
		t.Fatalf("restarted process: SendDue = %d, %v, want 1 at once", n, err)
	}
	enqueue(t, db, "msg_3", "ada@agency.example", "Third", "Body\n")
	now = t0.Add(2 * time.Second)
	if n, err := a.SendDue(ctx); err != nil || n != 0 {
		t.Fatalf("predecessor after the takeover: SendDue = %d, %v, want 0", n, err)
	}
	if n, err := b.SendDue(ctx); err != nil || n != 1 {
		t.Fatalf("restarted process, next pass: SendDue = %d, %v, want 1", n, err)
	}
}

// stallingSMTP accepts connections and never answers, as an SMTP server
// that hangs; closing it ends the conversations.
func stallingSMTP(t *testing.T) (url string, release func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	var once sync.Once
	release = func() {
		once.Do(func() {
			l.Close()
			mu.Lock()
			defer mu.Unlock()
			for _, c := range conns {
				c.Close()
			}
		})
	}
	t.Cleanup(release)
	return "smtp://" + l.Addr().String(), release
}

// A sender whose SMTP conversation outlasts the lease keeps the lease on
// its heartbeat: no other node takes over and sends the message again.
func TestHeartbeatKeepsLeaseDuringDelivery(t *testing.T) {
	db := MustOpen(t)
	url, release := stallingSMTP(t)
	const lease = time.Second
	a, err := mail.NewSender(db, mail.Config{SMTP: url, Poll: 100 * time.Millisecond, Lease: lease, Timeout: time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dirB := filepath.Join(t.TempDir(), "b")
	b, err := mail.NewSender(db, mail.Config{Dir: dirB, Poll: 100 * time.Millisecond, Lease: lease}, nil)
	if err != nil {
		t.Fatal(err)
	}
	enqueue(t, db, "msg_1", "ada@agency.example", "Slow", "Body\n")
	// The message is due now on the real clock the senders use.
	delivered := make(chan error, 1)
	go func() {
		_, err := a.SendDue(ctx)
		delivered <- err
	}()
	// While the first node is stuck in its conversation for several
	// leases, the second never gets the outbox.
	for range 3 * int(lease/(100*time.Millisecond)) {
		time.Sleep(100 * time.Millisecond)
		if n, err := b.SendDue(ctx); err != nil || n != 0 {
			t.Fatalf("second node during the first's delivery: SendDue = %d, %v, want 0", n, err)
		}
	}
	release()
	if err := <-delivered; err != nil {
		t.Fatalf("first node: %v", err)
	}
	if got := sent(t, dirB); got != 0 {
		t.Errorf("second node sent %d messages the first was sending", got)
	}
}

// A message has the same Message-ID whichever node composes it and however
// often: <outbox id@host of the base URL>, so receivers can drop a repeat.
func TestMessageIDStable(t *testing.T) {
	db := MustOpen(t)
	m := enqueue(t, db, "msg_01jq8y0000000000000000000", "ada@agency.example", "Hello", "Body\n")
	var ids []string
	for range 2 {
		s, err := mail.NewSender(db, mail.Config{Dir: t.TempDir(), MessageIDHost: "steward.example.com"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			msg, err := s.Compose(m)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, msg.GetMessageID())
		}
	}
	for _, id := range ids {
		if want := "<msg_01jq8y0000000000000000000@steward.example.com>"; id != want {
			t.Errorf("Message-ID = %q, want %q", id, want)
		}
	}
}
