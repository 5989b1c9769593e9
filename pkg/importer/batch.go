package importer

// batch is one upload being built: a JSON array and where each entry came
// from, so the API's per-entry results can be reported against the source.
type batch struct {
	body []byte
	locs []Location
	keys []string // external ids, for the log of a conflict
	n    int
}

func (b *batch) reset() {
	b.body = append(b.body[:0], '[')
	b.locs, b.keys = b.locs[:0], b.keys[:0]
	b.n = 0
}

// add appends one encoded entry.
func (b *batch) add(entry []byte, loc Location, key string) {
	if b.n > 0 {
		b.body = append(b.body, ',')
	}
	b.body = append(b.body, entry...)
	b.locs, b.keys = append(b.locs, loc), append(b.keys, key)
	b.n++
}
