package steward

// DefaultConsentVersion and DefaultConsentText are the delegated account
// management agreement an inviter accepts before inviting external users
// (R-EXT-2), unless the operator configures its own (Service.ConsentVersion
// and Service.ConsentText).
const (
	DefaultConsentVersion = "2026-01"
	DefaultConsentText    = `Delegated account management agreement

By inviting external users you let people who do not belong to your
organisation administer this account with the permissions of the role you
choose. You confirm that:

1. You are authorised by your organisation to give this access.
2. The invited users, and any delegates you allow them to add from their own
   organisation, act on your organisation's behalf; their actions are recorded
   in this account's audit log with their own organisation and the chain of
   delegation that gave them access.
3. You remain responsible for reviewing their access, and you will end it when
   it is no longer needed. Access ends automatically at the end dates you set.
4. Your organisation's data may be viewed or changed by the invited users
   within the permissions granted.`
)

// ConsentAgreement is the current agreement: GET /v1/consent.
type ConsentAgreement struct {
	Version string `json:"version"`
	Text    string `json:"text"`
}

// ConsentInput is the inviter's acceptance of the agreement, given with each
// invitation request.
type ConsentInput struct {
	Accepted bool   `json:"accepted"`
	Version  string `json:"version"`
}

// Consent returns the current delegated account management agreement.
func (s *Service) Consent() ConsentAgreement {
	c := ConsentAgreement{Version: s.ConsentVersion, Text: s.ConsentText}
	if c.Version == "" {
		c.Version, c.Text = DefaultConsentVersion, DefaultConsentText
	}
	return c
}

// checkConsent refuses an invitation whose inviter did not accept the current
// agreement: not accepted is 422 consent_required; any other version than the
// current one is stale, 409 consent_outdated (SPEC §4 "Consent").
func (s *Service) checkConsent(in ConsentInput) (string, error) {
	cur := s.Consent()
	if !in.Accepted || in.Version == "" {
		var bad []FieldError
		if !in.Accepted {
			bad = append(bad, FieldError{"consent.accepted", "must be true: accept the delegated account management agreement (GET /v1/consent)"})
		}
		if in.Version == "" {
			bad = append(bad, FieldError{"consent.version", "is required: the version of the agreement you accept, " + quote(cur.Version)})
		}
		return "", Invalid("consent_required", "Inviting external users needs your acceptance of the delegated account management agreement.", bad...)
	}
	if in.Version != cur.Version {
		return "", &Error{Kind: ECONFLICT, Code: "consent_outdated",
			Message: "The agreement has changed: read version " + quote(cur.Version) + " (GET /v1/consent) and accept it.",
			Fields:  []FieldError{{"consent.version", quote(in.Version) + " is not the current version " + quote(cur.Version)}}}
	}
	return cur.Version, nil
}
