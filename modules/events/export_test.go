package events

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Internals the partition tests check against.
var (
	PartitionSpan  = partitionSpan
	PartitionStart = partitionStart
	LeafName       = leafName
	ExpiryCutoff   = expiryCutoff
)

// IngestRunning reports whether RunCommitters serves single-event ingestion.
func IngestRunning(s *Service) bool {
	g := s.committers.Load()
	return g != nil && g.Running()
}

// IngestQueued is how many single-event requests wait for a committer.
func IngestQueued(s *Service) int {
	if g := s.committers.Load(); g != nil {
		return g.Queued()
	}
	return 0
}

// SetSchemaClock makes s's schema cache read the time from now (call it
// before s ingests).
func SetSchemaClock(s *Service, now func() time.Time) { s.schemas.now = now }

// CheckSchema runs ingestion's schema check alone, as Ingest does before
// the group commit.
func CheckSchema(ctx context.Context, s *Service, tenantID uuid.UUID, in Input) error {
	_, _, err := s.checkSchema(ctx, tenantID, in)
	return err
}
