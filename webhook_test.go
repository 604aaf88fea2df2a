package steward_test

import (
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/steward-iam/steward"
)

// TestSignWebhook_R_HOOK_2 checks the signature against the Standard
// Webhooks library both ways, and VerifyWebhook's refusals.
func TestSignWebhook_R_HOOK_2(t *testing.T) {
	secret := steward.NewWebhookSecret()
	body := []byte(`{"type":"role.created"}`)
	now := time.Now()
	sig, err := steward.SignWebhook(secret, "evt_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	lib, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("webhook-id", "evt_1")
	h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	h.Set("webhook-signature", sig)
	if err := lib.Verify(body, h); err != nil {
		t.Fatalf("the library refuses our signature: %v", err)
	}
	libSig, err := lib.Sign("evt_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	if err := steward.VerifyWebhook(secret, "evt_1", ts, "v1,bogus "+libSig, body, now, time.Minute); err != nil {
		t.Fatalf("VerifyWebhook refuses the library's signature: %v", err)
	}
	for name, err := range map[string]error{
		"ErrBody":      steward.VerifyWebhook(secret, "evt_1", ts, sig, append(body, ' '), now, 0),
		"ErrID":        steward.VerifyWebhook(secret, "evt_2", ts, sig, body, now, 0),
		"ErrSecret":    steward.VerifyWebhook(steward.NewWebhookSecret(), "evt_1", ts, sig, body, now, 0),
		"ErrTolerance": steward.VerifyWebhook(secret, "evt_1", ts, sig, body, now.Add(time.Hour), time.Minute),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestPublicAddr_R_HOOK_3 lists the addresses webhooks may not reach.
func TestPublicAddr_R_HOOK_3(t *testing.T) {
	for _, tt := range []struct {
		addr string
		ok   bool
	}{
		{"93.184.215.14", true}, {"2606:2800:220:1::1", true},
		{"127.0.0.1", false}, {"127.8.8.8", false}, {"::1", false}, {"10.0.0.1", false}, {"172.16.5.5", false},
		{"192.168.0.1", false}, {"169.254.169.254", false}, {"fe80::1", false}, {"fd00:ec2::254", false},
		{"100.64.0.1", false}, {"0.0.0.0", false}, {"0.1.2.3", false}, {"::", false}, {"224.0.0.1", false},
		{"::ffff:127.0.0.1", false}, {"::ffff:10.0.0.1", false}, {"100.100.100.200", false},
	} {
		if got := steward.PublicAddr(netip.MustParseAddr(tt.addr)); got != tt.ok {
			t.Errorf("PublicAddr(%s) = %v, want %v", tt.addr, got, tt.ok)
		}
	}
}

// TestSecretBox: a sealed secret opens with its key and row only.
func TestSecretBox(t *testing.T) {
	key, err := steward.ParseSecretKey(steward.NewSecretKey())
	if err != nil {
		t.Fatal(err)
	}
	box, _ := steward.NewSecretBox(key)
	sealed := box.Seal("whk_1", "whsec_abc")
	if got, err := box.Open("whk_1", sealed); err != nil || got != "whsec_abc" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := box.Open("whk_2", sealed); err == nil {
		t.Error("a sealed secret opened for another row")
	}
	other, _ := steward.NewSecretBox(make([]byte, 32))
	if _, err := other.Open("whk_1", sealed); err == nil {
		t.Error("a sealed secret opened with another key")
	}
}
