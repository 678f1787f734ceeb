package billing

import (
	"context"

	"github.com/google/uuid"
)

// Weight is tenantID's share of the workers when several tenants have a
// backlog (SPEC §8): the operator's weight, else its plan's. It reads the
// limits cache that admission keeps (at most limitTTL old), so ingestion,
// which admits before it enqueues, never waits for it; elsewhere a miss
// reads the tenant once per limitTTL. A tenant that cannot be read weighs 1.
func (s *Service) Weight(ctx context.Context, tenantID uuid.UUID) int {
	l, err := s.limitsOf(ctx, tenantID)
	if err != nil || l.weight < 1 {
		return 1
	}
	return l.weight
}
