package billing

import (
	"maps"
	"slices"
)

// Plan is what a tenant's plan allows. A nil monthly limit is unlimited.
type Plan struct {
	Name        string
	SoftLimit   *int64  // monthly events before a warning
	HardLimit   *int64  // monthly events before 429 quota_exceeded
	IngestRate  float64 // requests per second per API key
	IngestBurst int
	ManageRate  float64 // management requests per second per tenant
	ManageBurst int
	// RetentionDays is how long events (and the matches, deliveries and
	// idempotency keys they caused) are kept at least; see docs/storage.md.
	RetentionDays int
	// Weight is the share of the workers a tenant gets when several have a
	// backlog (SPEC §8), unless the operator set its own.
	Weight int
}

// Retention of each plan, in days. An event keeps the retention of the plan
// its tenant had when it was received. The events table has one partition
// branch per value (db/migrations/0006); a new value gets its branch from
// the events maintenance job, or from the first insert that needs it.
const (
	RetentionFree       = 30
	RetentionPro        = 90
	RetentionEnterprise = 365
)

func limit(n int64) *int64 { return &n }

// Catalog is the set of plans, with any operator overrides applied.
type Catalog struct {
	plans map[string]Plan
}

// RateOverride replaces every plan's per-key ingest rate (INGEST_RATE_LIMIT
// and INGEST_RATE_BURST); zero fields keep the plan's.
type RateOverride struct {
	IngestRate  float64
	IngestBurst int
}

// NewCatalog returns the plans of SPEC §6 with o applied.
func NewCatalog(o RateOverride) Catalog {
	plans := map[string]Plan{
		"free": {Name: "free", SoftLimit: limit(100_000), HardLimit: limit(120_000), IngestRate: 50, IngestBurst: 100,
			ManageRate: 10, ManageBurst: 20, RetentionDays: RetentionFree, Weight: 1},
		"pro": {Name: "pro", SoftLimit: limit(1_000_000), HardLimit: limit(1_200_000), IngestRate: 500, IngestBurst: 1_000,
			ManageRate: 50, ManageBurst: 100, RetentionDays: RetentionPro, Weight: 4},
		"enterprise": {Name: "enterprise", IngestRate: 5_000, IngestBurst: 10_000, ManageRate: 200, ManageBurst: 400,
			RetentionDays: RetentionEnterprise, Weight: 16},
	}
	for name, p := range plans {
		if o.IngestRate > 0 {
			p.IngestRate = o.IngestRate
		}
		if o.IngestBurst > 0 {
			p.IngestBurst = o.IngestBurst
		}
		plans[name] = p
	}
	return Catalog{plans: plans}
}

// Plan returns the named plan; an unknown name gets free's limits (the
// database constrains plan names, so this is only a safe default).
func (c Catalog) Plan(name string) Plan {
	if p, ok := c.plans[name]; ok {
		return p
	}
	return c.plans["free"]
}

// RetentionClasses returns every plan's retention in days, ascending and
// without repeats: the partition branches the events table needs.
func (c Catalog) RetentionClasses() []int {
	set := map[int]bool{}
	for _, p := range c.plans {
		set[p.RetentionDays] = true
	}
	return slices.Sorted(maps.Keys(set))
}
