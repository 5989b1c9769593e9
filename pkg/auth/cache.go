package auth

import "sync"

// tokenCache remembers tokens whose signature verified, keyed by the token
// itself, so a client reusing its token skips the signature check. It holds
// at most max entries; when full, half of the entries are dropped at random
// (map order), which keeps the cost of a put constant without an LRU list.
type tokenCache struct {
	mu      sync.RWMutex
	max     int
	entries map[string]*Token
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, entries: make(map[string]*Token)}
}

func (c *tokenCache) get(raw string) *Token {
	if c.max <= 0 {
		return nil
	}
	c.mu.RLock()
	t := c.entries[raw]
	c.mu.RUnlock()
	return t
}

func (c *tokenCache) put(raw string, t *Token) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		n := 0
		for k := range c.entries {
			delete(c.entries, k)
			if n++; n >= c.max/2 {
				break
			}
		}
	}
	c.entries[raw] = t
}

func (c *tokenCache) drop(raw string) {
	c.mu.Lock()
	delete(c.entries, raw)
	c.mu.Unlock()
}
