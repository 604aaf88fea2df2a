// Package mailtest runs a real SMTP server (github.com/emersion/go-smtp) on
// 127.0.0.1:0 inside a test and captures what it receives.
package mailtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mail is one message the server accepted.
type Mail struct {
	From    string
	To      []string
	Subject string
	Body    string // the decoded text body
	Header  mail.Header
	Raw     []byte
	TLS     bool   // the message came over an encrypted connection
	User    string // the authenticated user, if any
}

// Server is an SMTP server for one test.
type Server struct {
	Addr string
	// TLSConfig trusts the server's certificate; give it to the client.
	TLSConfig *tls.Config

	t        testing.TB
	srv      *smtp.Server
	mu       sync.Mutex
	mails    []Mail
	failNext int
	arrived  chan struct{}
	user     string
	pass     string
}

// Option configures a Server.
type Option func(*Server)

// WithStartTLS makes the server offer STARTTLS with a self-signed certificate.
func WithStartTLS() Option { return func(s *Server) { s.srv.TLSConfig = s.serverTLS() } }

// WithAuth makes the server require PLAIN authentication with these credentials.
func WithAuth(user, pass string) Option { return func(s *Server) { s.user, s.pass = user, pass } }

// NewServer starts a plain SMTP server on 127.0.0.1:0, stopped when the test ends.
func NewServer(t testing.TB, opts ...Option) *Server {
	return start(t, false, opts...)
}

// NewTLSServer starts an SMTP server that speaks TLS from the first byte (smtps).
func NewTLSServer(t testing.TB, opts ...Option) *Server {
	return start(t, true, opts...)
}

func start(t testing.TB, implicitTLS bool, opts ...Option) *Server {
	t.Helper()
	s := &Server{t: t, arrived: make(chan struct{}, 1000)}
	s.srv = smtp.NewServer(backend{s})
	s.srv.Domain = "localhost"
	s.srv.AllowInsecureAuth = true
	s.srv.ReadTimeout, s.srv.WriteTimeout = 10*time.Second, 10*time.Second
	for _, o := range opts {
		o(s)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if implicitTLS {
		l = tls.NewListener(l, s.serverTLS())
	}
	s.Addr = l.Addr().String()
	go s.srv.Serve(l)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// URL returns the smtp:// (or, for a TLS server, smtps://) URL of the server.
func (s *Server) URL() string {
	scheme := "smtp"
	if s.TLSConfig != nil && s.srv.TLSConfig == nil {
		scheme = "smtps"
	}
	cred := ""
	if s.user != "" {
		cred = s.user + ":" + s.pass + "@"
	}
	return scheme + "://" + cred + s.Addr
}

// FailNext makes the server refuse the next n messages with a temporary error.
func (s *Server) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = n
}

// Mails returns the messages received so far.
func (s *Server) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// Wait waits until n messages arrived or the timeout passes, and returns them.
func (s *Server) Wait(n int, timeout time.Duration) []Mail {
	s.t.Helper()
	deadline := time.After(timeout)
	for {
		if ms := s.Mails(); len(ms) >= n {
			return ms
		}
		select {
		case <-s.arrived:
		case <-deadline:
			s.t.Fatalf("mailtest: %d messages arrived within %s, want %d", len(s.Mails()), timeout, n)
			return nil
		}
	}
}

// serverTLS makes a self-signed certificate for 127.0.0.1 and sets
// s.TLSConfig to a client configuration that trusts it.
func (s *Server) serverTLS() *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		s.t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mailtest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		s.t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	s.TLSConfig = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &session{s: b.s, tls: isTLS}, nil
}

type session struct {
	s    *Server
	tls  bool
	user string
	from string
	to   []string
}

func (x *session) AuthMechanisms() []string {
	if x.s.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (x *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != x.s.user || password != x.s.pass {
			return errors.New("invalid credentials")
		}
		x.user = username
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.s.user != "" && x.user == "" {
		return smtp.ErrAuthRequired
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	if x.s.failNext > 0 {
		x.s.failNext--
		x.s.mu.Unlock()
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	m := Mail{From: x.from, To: x.to, Raw: raw, TLS: x.tls, User: x.user}
	if msg, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		m.Header = msg.Header
		dec := new(mime.WordDecoder)
		if subj, err := dec.DecodeHeader(msg.Header.Get("Subject")); err == nil {
			m.Subject = subj
		}
		m.Body = decodeBody(msg)
	}
	x.s.mails = append(x.s.mails, m)
	x.s.mu.Unlock()
	x.s.arrived <- struct{}{}
	return nil
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

// decodeBody returns the text of a single-part message, undoing its
// transfer encoding.
func decodeBody(msg *mail.Message) string {
	body, _ := io.ReadAll(msg.Body)
	switch strings.ToLower(msg.Header.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		b, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err == nil {
			return string(b)
		}
	case "base64":
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(body)), ""))
		if err == nil {
			return string(b)
		}
	}
	return string(body)
}
