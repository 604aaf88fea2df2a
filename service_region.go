package steward

import "context"

// RegionMigration asks to move an account to another region (data centre).
type RegionMigration struct {
	Region string `json:"region"`
}

// MigrateRegion moves the account to another region. It needs
// account.region.migrate, which partner admins never hold (R-RESTRICT-1,
// R-PARTNER-1). Steward records the account's new region and the event; the
// platform moves the account's data where the region says.
func (s *Service) MigrateRegion(ctx context.Context, accountID string, in RegionMigration) (*Account, int64, error) {
	var acc *Account
	rev, err := s.write(ctx, func(t *txn) error {
		by, err := t.lockedActor(accountID, PermRegionMigrate) // R-RESTRICT-1
		if err != nil {
			return err
		}
		if !regionRE.MatchString(in.Region) {
			return Invalid("invalid_region", "The region is not valid.", FieldError{"region", "must be a lower-case region name such as us or eu"})
		}
		if acc, err = t.FindAccountByID(t.ctx, accountID); err != nil {
			return err
		}
		if acc.Region == in.Region {
			return Errorf(ECONFLICT, "same_region", "The account is already in region %s.", in.Region)
		}
		from := acc.Region
		acc.Region, acc.UpdatedAt = in.Region, t.now
		if err := t.UpdateAccount(t.ctx, acc); err != nil {
			return err
		}
		t.record(accountID, by, "account.region_migrated", "account", accountID, map[string]string{"from": from, "to": in.Region})
		t.answer(acc)
		return nil
	})
	return acc, rev, err
}
