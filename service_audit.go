package steward

import (
	"context"
	"errors"
)

// FindEvents pages through an account's audit log; it needs account.audit.view
// there (R-AUDIT-3).
func (s *Service) FindEvents(ctx context.Context, f AuditFilter) ([]*Event, string, error) {
	if err := f.checkText(); err != nil {
		return nil, "", err
	}
	by, err := s.accessTo(ctx, s.Store, f.AccountID)
	if err != nil {
		return nil, "", err
	}
	if err := by.require(PermAuditView); err != nil {
		return nil, "", err
	}
	if f.Limit <= 0 || f.Limit > MaxPageLimit {
		f.Limit = Page{Limit: f.Limit}.Normalize().Limit
	}
	return s.Store.FindEvents(ctx, f)
}

// checkText refuses filter values that are not text both stores keep alike
// (SPEC §4 "Text"), named as the query parameters that carry them.
func (f AuditFilter) checkText() error {
	return checkText("actor", f.ActorUserID, "partner", f.ActorPartnerID, "action", f.Action, "cursor", f.After)
}

// VerifyAudit walks an account's hash chain and names the first event that
// does not verify (R-AUDIT-2). It needs account.audit.view, or the operator.
func (s *Service) VerifyAudit(ctx context.Context, accountID string) (VerifyResult, error) {
	by, err := s.accessTo(ctx, s.Store, accountID)
	if err != nil {
		return VerifyResult{}, err
	}
	if err := by.require(PermAuditView); err != nil {
		return VerifyResult{}, err
	}
	return VerifyStoreChain(ctx, s.Store, accountID)
}

// VerifyStoreChain verifies an account's chain straight from a store, for the CLI.
func VerifyStoreChain(ctx context.Context, st AuditStore, accountID string) (VerifyResult, error) {
	var v ChainVerifier
	err := st.ScanEvents(ctx, accountID, func(e *Event) error {
		if !v.Add(e) {
			return errStopScan
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopScan) {
		return VerifyResult{}, err
	}
	return v.Result(), nil
}

var errStopScan = errors.New("stop scan")
