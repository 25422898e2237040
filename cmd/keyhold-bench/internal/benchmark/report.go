package benchmark

import (
	"slices"
	"time"
)

// Result is one measurement: a backend doing one operation at one
// concurrency, in one round of a run.
type Result struct {
	Backend     string    `json:"backend"`
	Operation   Operation `json:"operation"`
	Concurrency int       `json:"concurrency"`
	Round       int       `json:"round"`
	Stats       Stats     `json:"stats"`
	// Unsupported, when set, says why the backend cannot do the operation;
	// reports show "unsupported", never a zero.
	Unsupported string `json:"unsupported,omitempty"`
	// Error, when set, is why the measurement failed.
	Error string `json:"error,omitempty"`
}

// Backend describes a measured backend for reports.
type Backend struct {
	// Name is short and stable: table rows and the command line use it.
	Name string `json:"name"`
	// Title is what a chart legend shows.
	Title string `json:"title"`
	// Description says what is measured, in a sentence.
	Description string `json:"description"`
}

// Machine describes where a run ran.
type Machine struct {
	CPU    string `json:"cpu"`
	Cores  int    `json:"cores"`
	Memory string `json:"memory"`
	Kernel string `json:"kernel"`
	OS     string `json:"os"`
}

// Version is the version of one component of a run.
type Version struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Run is a whole benchmark run: what was measured, where, how, and every
// result of every round.
type Run struct {
	Command     string      `json:"command"`
	Date        time.Time   `json:"date"`
	Machine     Machine     `json:"machine"`
	Versions    []Version   `json:"versions"`
	Window      Window      `json:"window"`
	Rounds      int         `json:"rounds"`
	Concurrency []int       `json:"concurrency"`
	Operations  []Operation `json:"operations"`
	Backends    []Backend   `json:"backends"`
	Results     []Result    `json:"results"`
}

// Cell is what a report shows for one backend, operation and concurrency:
// the round of median throughput, with the range over all rounds.
type Cell struct {
	// Found is false when the run has no result for the cell.
	Found bool
	// Median is the round of median throughput (the upper median for an even
	// number of rounds); its latencies are shown with it.
	Median Stats
	// Min and Max are the lowest and highest throughput over the rounds.
	Min, Max float64
	// Rounds is the number of rounds measured.
	Rounds int
	// Unsupported and Error are as in Result, from any round.
	Unsupported string
	Error       string
}

// Cell summarises the rounds of one backend, operation and concurrency.
func (r *Run) Cell(backend string, op Operation, concurrency int) Cell {
	var c Cell
	var rounds []Stats
	for _, res := range r.Results {
		if res.Backend != backend || res.Operation != op || res.Concurrency != concurrency {
			continue
		}
		c.Found = true
		switch {
		case res.Unsupported != "":
			c.Unsupported = res.Unsupported
		case res.Error != "":
			c.Error = res.Error
		default:
			rounds = append(rounds, res.Stats)
		}
	}
	if c.Unsupported != "" || c.Error != "" || len(rounds) == 0 {
		return c
	}
	slices.SortFunc(rounds, func(a, b Stats) int {
		switch {
		case a.PerSecond < b.PerSecond:
			return -1
		case a.PerSecond > b.PerSecond:
			return 1
		}
		return 0
	})
	c.Rounds = len(rounds)
	c.Median = rounds[len(rounds)/2]
	c.Min, c.Max = rounds[0].PerSecond, rounds[len(rounds)-1].PerSecond
	return c
}
