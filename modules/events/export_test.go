package events

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
