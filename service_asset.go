package steward

import "context"

// AssetInput registers or moves an asset (PUT …/assets/{type}/{id}).
type AssetInput struct {
	Name        string `json:"name"`
	OwnerUserID string `json:"owner_user_id"`
}

// PutAsset registers an asset of the account, or renames it or moves its
// ownership, so that removals can show and reassign it (R-PARTNER-8). The
// owner must be a member of the account. Operator only.
func (s *Service) PutAsset(ctx context.Context, accountID, typ, id string, in AssetInput) (*Asset, int64, error) {
	if err := s.requireOperator(ctx); err != nil {
		return nil, 0, err
	}
	var a *Asset
	rev, err := s.write(ctx, func(t *txn) error {
		by, err := t.s.accessTo(t.ctx, t, accountID)
		if err != nil {
			return err
		}
		a = &Asset{AccountID: accountID, Type: typ, ID: id, Name: in.Name, OwnerUserID: in.OwnerUserID, CreatedAt: t.now, UpdatedAt: t.now}
		if err := a.Validate(); err != nil {
			return err
		}
		if _, err := t.FindMembership(t.ctx, accountID, a.OwnerUserID); ErrorKind(err) == ENOTFOUND {
			return Invalid("invalid_asset", "The asset is not valid.", FieldError{"owner_user_id", "is not a member of the account"})
		} else if err != nil {
			return err
		}
		action, details := "asset.registered", map[string]any{"name": a.Name, "owner_user_id": a.OwnerUserID}
		old, err := t.FindAsset(t.ctx, accountID, typ, id)
		switch {
		case ErrorKind(err) == ENOTFOUND:
		case err != nil:
			return err
		case old.OwnerUserID == a.OwnerUserID && old.Name == a.Name:
			a = old
			return errUnchanged // SPEC §4 "No-op writes"
		case old.OwnerUserID != a.OwnerUserID:
			action, details["from"], a.CreatedAt = "asset.reassigned", old.OwnerUserID, old.CreatedAt
		default:
			action, a.CreatedAt = "asset.updated", old.CreatedAt
		}
		if err := t.PutAsset(t.ctx, a); err != nil {
			return err
		}
		t.record(accountID, by, action, "asset", typ+"/"+id, details)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return a, rev, nil
}

// FindAssets pages through an account's assets, optionally one owner's. The
// operator and the account's members may read them.
func (s *Service) FindAssets(ctx context.Context, f AssetFilter) ([]*Asset, string, error) {
	if _, err := s.accessTo(ctx, s.Store, f.AccountID); err != nil {
		return nil, "", err
	}
	f.Page = f.Page.Normalize()
	return s.Store.FindAssets(ctx, f)
}
