package http

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/steward-iam/steward"
)

// TestAppendCheckResult: the hand-written encoder writes what huma's JSON
// format (encoding/json without HTML escapes) writes.
func TestAppendCheckResult(t *testing.T) {
	end := time.Date(2031, 2, 3, 4, 5, 6, 789000, time.UTC)
	zone := time.Date(2030, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	odd := "a\"b\\c\n\r\t\b\f\x01\x1f <&> \u2028\u2029 é \xff\xfe 😀"
	results := []steward.CheckResult{
		{},
		{Allowed: true, Reason: steward.Reason{Code: steward.ReasonGranted, Message: steward.ReasonMessage(steward.ReasonGranted)}, Revision: 42},
		{Allowed: true, Revision: -1, Reason: steward.Reason{Code: odd, Message: odd, MembershipID: odd, Kind: steward.KindDelegate, Role: odd, Source: odd, EndsAt: &end,
			Chain: []steward.ChainLink{
				{Type: "membership", ID: "mem_1", AccountID: "acc_1", UserID: "usr_1", Kind: "delegate", Status: "active", EndsAt: &zone},
				{Type: "relationship", ID: odd, Status: odd},
				{},
			}}},
		{Reason: steward.Reason{Chain: []steward.ChainLink{}}},
		{Reason: steward.Reason{EndsAt: &far}}, // left to encoding/json, which refuses it
		{Allowed: true, Reason: steward.Reason{Code: steward.ReasonGranted, Source: "elevation", Elevation: &steward.ReasonElevation{ID: odd, EndsAt: zone}}}, // R-ELEVATE-2
		{Reason: steward.Reason{Elevation: &steward.ReasonElevation{ID: "elv_1", EndsAt: far}}},
	}
	for _, res := range results {
		var want bytes.Buffer
		wantErr := humaMarshal(&want, &res)
		got, ok := appendCheckResult(nil, &res)
		if !ok {
			if wantErr == nil {
				t.Errorf("appendCheckResult gave up on %+v, which encoding/json writes", res)
			}
			continue
		}
		if !bytes.Equal(append(got, '\n'), want.Bytes()) {
			t.Errorf("appendCheckResult:\n got %s\nwant %s", got, want.Bytes())
		}
	}
}

// TestJSONFormat: the answers huma renders through jsonFormat are the bytes
// of huma's default JSON format, for the hand-written types and the others.
func TestJSONFormat(t *testing.T) {
	end := time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)
	reason := steward.Reason{Code: "granted", Message: "m <&>", MembershipID: "mem_1", Kind: steward.KindPartner, Role: "partner_admin", Source: "membership",
		Chain: []steward.ChainLink{{Type: "membership", ID: "mem_1", AccountID: "acc_1", UserID: "usr_1", Kind: "partner", Status: "active"},
			{Type: "relationship", ID: "rel_1", AccountID: "acc_2", Status: "ending", EndsAt: &end}}, EndsAt: &end}
	values := []any{
		&steward.CheckResult{Allowed: true, Reason: reason, Revision: 7},
		&steward.BatchCheckResult{},
		&steward.BatchCheckResult{Results: []steward.CheckResult{}},
		&steward.BatchCheckResult{Results: []steward.CheckResult{{Reason: reason}, {Allowed: true, Revision: 3}}},
		List[steward.Access]{},
		List[steward.Access]{Items: []steward.Access{}, NextCursor: "abc"},
		List[steward.Access]{Items: []steward.Access{
			{UserID: "usr_1", AccountID: "acc_1", Reason: reason},
			{UserID: "usr_2\\", AccountID: "acc_\u2028", Permissions: []string{"a", "b\\"}, Reason: steward.Reason{Code: "holds"}},
			{Permissions: []string{}},
		}},
		List[steward.Role]{Items: []steward.Role{{ID: "rol_1", Name: "<b>"}}},
		map[string]string{"a": "<&>"},
	}
	for _, v := range values {
		var want, got bytes.Buffer
		if err := humaMarshal(&want, v); err != nil {
			t.Fatal(err)
		}
		if err := jsonFormat.Marshal(&got, v); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("jsonFormat(%T):\n got %s\nwant %s", v, got.Bytes(), want.Bytes())
		}
	}
}

func humaMarshal(b *bytes.Buffer, v any) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// FuzzDecodeCheck: what the fast decoder takes, encoding/json decodes to the
// same request with no unknown field, and re-encoded it is taken again.
func FuzzDecodeCheck(f *testing.F) {
	f.Add([]byte(`{"user_id":"usr_1","account_id":"acc_1","permission":"reports.view"}`))
	f.Add([]byte(` {"permission":"p","account_id":"a","user_id":"u","min_revision":12} `))
	f.Add([]byte(`{"user_id":"é","account_id":"","permission":"x","min_revision":0}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var got steward.CheckRequest
		if !decodeCheck(body, &got) {
			return
		}
		var want steward.CheckRequest
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&want); err != nil || dec.More() {
			t.Fatalf("decodeCheck took %q, which encoding/json refuses: %v", body, err)
		}
		if got.UserID != want.UserID || got.AccountID != want.AccountID || got.Permission != want.Permission || got.MinRevision != want.MinRevision || want.At != nil {
			t.Fatalf("decodeCheck(%q) = %+v, encoding/json %+v", body, got, want)
		}
	})
}
