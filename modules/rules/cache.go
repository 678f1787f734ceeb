package rules

import (
	"sync"

	"github.com/google/uuid"
)

// versionKey names one immutable rule version.
type versionKey struct {
	rule    uuid.UUID
	version int
}

// compiledCache keeps compiled rule versions. Versions never change, so an
// entry never goes stale; a rule change is a new key, picked up by the next
// event because the worker reads the current versions in its transaction.
type compiledCache struct {
	mu sync.RWMutex
	m  map[versionKey]*Compiled
}

// maxCompiled bounds the cache; when full it starts over.
const maxCompiled = 50_000

func newCompiledCache() *compiledCache {
	return &compiledCache{m: make(map[versionKey]*Compiled)}
}

func (c *compiledCache) get(k versionKey) (*Compiled, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *compiledCache) put(k versionKey, v *Compiled) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCompiled {
		clear(c.m)
	}
	c.m[k] = v
}
