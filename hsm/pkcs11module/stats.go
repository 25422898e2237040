//go:build cgo

package pkcs11module

import "sort"

// Stats returns what this process did with each token of a module it uses,
// sorted by module and label. Operators watch SessionsClosed: a token whose
// sessions keep breaking is failing, even while its failover hides it.
func Stats() []TokenStats {
	registry.Lock()
	defer registry.Unlock()
	var out []TokenStats
	for path, m := range registry.mods {
		for _, t := range m.tokens {
			out = append(out, TokenStats{Module: path, Label: t.label, Serial: t.serial, SessionsClosed: t.sessionsClosed.Load()})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Module != out[j].Module {
			return out[i].Module < out[j].Module
		}
		return out[i].Label < out[j].Label
	})
	return out
}
