package events

// Internals the partition tests check against.
var (
	PartitionSpan  = partitionSpan
	PartitionStart = partitionStart
	LeafName       = leafName
	ExpiryCutoff   = expiryCutoff
)
