package steward

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ID prefixes of webhooks (R-HOOK-1) and their deliveries (R-HOOK-2).
const (
	PrefixWebhook  = "whk_"
	PrefixDelivery = "dlv_"
)

// Webhook statuses: a disabled endpoint receives nothing until it is
// enabled again (R-HOOK-2: an endpoint failing for WebhookRetryFor is disabled).
const (
	WebhookActive   = "active"
	WebhookDisabled = "disabled"
)

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
)

// WebhookRetryFor is how long a delivery is retried before its endpoint is
// disabled (SPEC §5: 3 days).
const WebhookRetryFor = 72 * time.Hour

// Webhook is an endpoint of an account that receives its audit events of
// the types it names, signed with its secret (R-HOOK-1, R-HOOK-2).
type Webhook struct {
	ID         string    `json:"id"`
	AccountID  string    `json:"account_id"`
	URL        string    `json:"url"`
	EventTypes []string  `json:"event_types" doc:"Audit actions delivered (e.g. member.role_changed); \"*\" is every action."`
	Status     string    `json:"status" enum:"active,disabled"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	// DisabledReason says why a disabled endpoint was disabled.
	DisabledReason string `json:"disabled_reason,omitempty"`
	// SecretCipher is the signing secret sealed with the installation's
	// secret key (AES-GCM, see SecretBox); it never leaves the store otherwise.
	SecretCipher string `json:"-"`
	// AfterSeq is the sequence number of the last event of the account
	// the endpoint has been considered for (R-HOOK-2, see QueueWebhookEvents).
	AfterSeq int64 `json:"-"`
}

// Matches reports whether the endpoint wants events of action.
func (w *Webhook) Matches(action string) bool {
	for _, t := range w.EventTypes {
		if t == "*" || t == action {
			return true
		}
	}
	return false
}

// WebhookDelivery is one audit event on its way to one endpoint. It is
// written in the transaction of the change it reports (R-HOOK-2) and
// delivered after every earlier delivery of its endpoint.
type WebhookDelivery struct {
	ID        string `json:"id"`
	WebhookID string `json:"webhook_id"`
	AccountID string `json:"account_id"`
	// MessageID is the webhook-id header: the event's id, the same on every
	// attempt and every resend, so that a receiver can drop a repeat.
	MessageID string `json:"message_id"`
	EventType string `json:"event_type"`
	// Payload is the body sent: {"type", "timestamp", "data": event}.
	Payload []byte `json:"-"`
	// Seq orders the deliveries of one account: the event's sequence number.
	Seq           int64      `json:"-"`
	Status        string     `json:"status" enum:"pending,delivered"`
	Attempts      int        `json:"attempts"`
	CreatedAt     time.Time  `json:"created_at"`
	NextAttemptAt time.Time  `json:"next_attempt_at"`
	DeliveredAt   *time.Time `json:"delivered_at,omitempty"`
	LastStatus    int        `json:"last_status,omitempty" doc:"HTTP status of the last attempt (0: no answer)."`
	LastError     string     `json:"last_error,omitempty"`
	// FailingSince is the first failed attempt of the current run of
	// failures; the endpoint is disabled WebhookRetryFor after it.
	FailingSince *time.Time `json:"failing_since,omitempty"`
}

// WebhookStore keeps webhook endpoints and their deliveries.
type WebhookStore interface {
	CreateWebhook(ctx context.Context, w *Webhook) error
	// FindWebhookByID returns ENOTFOUND for an unknown id or one of another account.
	FindWebhookByID(ctx context.Context, accountID, id string) (*Webhook, error)
	// FindWebhooks pages through the account's endpoints ("" : every account's) in id order.
	FindWebhooks(ctx context.Context, accountID string, page Page) ([]*Webhook, string, error)
	UpdateWebhook(ctx context.Context, w *Webhook) error
	// DeleteWebhook deletes the endpoint and its deliveries.
	DeleteWebhook(ctx context.Context, accountID, id string) error
	// WebhooksBehind returns up to limit active endpoints whose account's
	// audit log has events after the endpoint's AfterSeq.
	WebhooksBehind(ctx context.Context, limit int) ([]*Webhook, error)
	// ActiveWebhookAccounts returns the ids of the accounts with an active endpoint.
	ActiveWebhookAccounts(ctx context.Context) ([]string, error)
	// AdvanceWebhook sets the endpoint's AfterSeq.
	AdvanceWebhook(ctx context.Context, accountID, id string, seq int64) error
	// SkipWebhookEvents sets the endpoint's AfterSeq to its account's
	// last committed event: the endpoint follows the log from there.
	SkipWebhookEvents(ctx context.Context, accountID, id string) error
	// EventsAfter returns up to limit events of the account whose sequence
	// number is above seq, in sequence order.
	EventsAfter(ctx context.Context, accountID string, seq int64, limit int) ([]*Event, error)
	// EnqueueDeliveries stores deliveries; it must run inside InTx.
	EnqueueDeliveries(ctx context.Context, ds []*WebhookDelivery) error
	// FindDeliveryByID returns ENOTFOUND unless the delivery is the endpoint's.
	FindDeliveryByID(ctx context.Context, webhookID, id string) (*WebhookDelivery, error)
	// FindDeliveries pages through an endpoint's deliveries, newest first.
	FindDeliveries(ctx context.Context, webhookID string, page Page) ([]*WebhookDelivery, string, error)
	// DueDeliveries returns up to limit pending deliveries of active
	// endpoints whose oldest pending delivery is due at now, grouped by
	// endpoint and in delivery order within each.
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]*WebhookDelivery, error)
	// UpdateDelivery records an attempt.
	UpdateDelivery(ctx context.Context, d *WebhookDelivery) error
}

// SecretBox seals webhook secrets with the installation's secret key
// (AES-256-GCM), so that the database alone does not reveal them and a
// sealed secret moved to another endpoint's row does not open.
type SecretBox struct{ aead cipher.AEAD }

// NewSecretBox returns a box over a 32-byte key.
func NewSecretBox(key []byte) (*SecretBox, error) {
	if len(key) != 32 {
		return nil, errors.New("the secret key must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &SecretBox{aead: aead}, nil
}

// ParseSecretKey reads a secret key written by EncodeSecretKey (standard base64 of 32 bytes).
func ParseSecretKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(key) != 32 {
		return nil, errors.New("the secret key must be the base64 of 32 bytes (as steward prints it)")
	}
	return key, nil
}

// NewSecretKey returns a fresh secret key in its printed form.
func NewSecretKey() string {
	key := make([]byte, 32)
	rand.Read(key)
	return base64.StdEncoding.EncodeToString(key)
}

// Seal encrypts secret for the row named id.
func (b *SecretBox) Seal(id, secret string) string {
	nonce := make([]byte, b.aead.NonceSize())
	rand.Read(nonce)
	return base64.StdEncoding.EncodeToString(b.aead.Seal(nonce, nonce, []byte(secret), []byte(id)))
}

// Open decrypts what Seal returned for the row named id.
func (b *SecretBox) Open(id, sealed string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(raw) < b.aead.NonceSize() {
		return "", errors.New("sealed secret is malformed")
	}
	n := b.aead.NonceSize()
	plain, err := b.aead.Open(nil, raw[:n], raw[n:], []byte(id))
	if err != nil {
		return "", errors.New("sealed secret does not open with this secret key")
	}
	return string(plain), nil
}

// NewWebhookSecret returns a Standard Webhooks secret: "whsec_" and the
// base64 of 24 random bytes.
func NewWebhookSecret() string {
	key := make([]byte, 24)
	rand.Read(key)
	return "whsec_" + base64.StdEncoding.EncodeToString(key)
}

// SignWebhook returns the webhook-signature header of a Standard Webhooks
// message: "v1," and the base64 HMAC-SHA256, keyed with the secret's bytes,
// of "id.timestamp.body" (R-HOOK-2).
func SignWebhook(secret, msgID string, ts time.Time, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return "", errors.New("the webhook secret is not whsec_ and base64")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msgID + "." + strconv.FormatInt(ts.Unix(), 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// VerifyWebhook checks a Standard Webhooks message: one of the
// space-separated v1 signatures must match, and the timestamp must lie
// within tolerance of now (0: any time).
func VerifyWebhook(secret, msgID, timestamp, signatures string, body []byte, now time.Time, tolerance time.Duration) error {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return errors.New("webhook-timestamp is not a number of seconds")
	}
	ts := time.Unix(sec, 0)
	if tolerance > 0 && (now.Sub(ts) > tolerance || ts.Sub(now) > tolerance) {
		return errors.New("webhook-timestamp is too far from now")
	}
	want, err := SignWebhook(secret, msgID, ts, body)
	if err != nil {
		return err
	}
	for _, sig := range strings.Fields(signatures) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return errors.New("no signature matches")
}

// WebhookGuard decides where webhooks may go (R-HOOK-3): https URLs whose
// host resolves only to public addresses, unless the operator allows the
// host by name (--webhook-allow-host).
type WebhookGuard struct {
	// AllowHosts are host names or addresses allowed whatever they resolve to.
	AllowHosts []string
	// LookupIP resolves a host; nil uses the system resolver. Tests replace it.
	LookupIP func(ctx context.Context, host string) ([]netip.Addr, error)
}

// Allowed reports whether host is one the operator allowed.
func (g *WebhookGuard) Allowed(host string) bool {
	if g == nil {
		return false
	}
	for _, h := range g.AllowHosts {
		if strings.EqualFold(strings.TrimSuffix(h, "."), strings.TrimSuffix(host, ".")) {
			return true
		}
	}
	return false
}

// metadataAddrs are cloud metadata services outside the ranges PublicAddr refuses anyway.
var metadataAddrs = []netip.Addr{netip.MustParseAddr("fd00:ec2::254"), netip.MustParseAddr("100.100.100.200")}

// sharedSpace is the carrier-grade NAT range (RFC 6598), private in practice.
var sharedSpace = netip.MustParsePrefix("100.64.0.0/10")

// PublicAddr reports whether a webhook may be sent to a: not loopback,
// private, link-local (169.254.169.254 included), unspecified, multicast,
// shared address space or a metadata address (R-HOOK-3).
func PublicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() || sharedSpace.Contains(a) {
		return false
	}
	if a.Is4() && a.As4()[0] == 0 { // 0.0.0.0/8: "this network"
		return false
	}
	for _, m := range metadataAddrs {
		if a == m {
			return false
		}
	}
	return true
}

// errWebhookURL is the refusal of a URL that R-HOOK-3 keeps out.
func errWebhookURL(why string) error {
	return Invalid("invalid_webhook_url", "The webhook URL is not allowed.", FieldError{"url", why})
}

// CheckURL checks a webhook URL at registration (R-HOOK-3): https, a host,
// no credentials, and, unless the host is allowed, every address it
// resolves to public. Delivery checks again (DNS can change): see DialControl.
func (g *WebhookGuard) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return errWebhookURL("must be an absolute https URL")
	}
	if u.Scheme != "https" {
		return errWebhookURL("must use https") // R-HOOK-3
	}
	if u.User != nil {
		return errWebhookURL("must not carry credentials")
	}
	host := u.Hostname()
	if host == "" {
		return errWebhookURL("must name a host")
	}
	if g.Allowed(host) {
		return nil
	}
	addrs, err := g.lookup(ctx, host)
	if err != nil {
		return errWebhookURL("its host does not resolve")
	}
	for _, a := range addrs {
		if !PublicAddr(a) { // R-HOOK-3
			return errWebhookURL("its host resolves to a loopback, private, link-local or metadata address")
		}
	}
	return nil
}

func (g *WebhookGuard) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	var addrs []netip.Addr
	var err error
	if g != nil && g.LookupIP != nil {
		addrs, err = g.LookupIP(ctx, host)
	} else {
		addrs, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	}
	if err == nil && len(addrs) == 0 {
		err = errors.New("no address")
	}
	return addrs, err
}

// Resolve returns the addresses a delivery to host may dial (R-HOOK-3,
// checked again at every delivery): all of them for an allowed host,
// otherwise the public ones, and an error when none is left.
func (g *WebhookGuard) Resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	addrs, err := g.lookup(ctx, host)
	if err != nil {
		return nil, err
	}
	if g.Allowed(host) {
		return addrs, nil
	}
	var ok []netip.Addr
	for _, a := range addrs {
		if PublicAddr(a) {
			ok = append(ok, a)
		}
	}
	if len(ok) == 0 {
		return nil, errors.New("the host resolves only to addresses webhooks may not reach")
	}
	return ok, nil
}
