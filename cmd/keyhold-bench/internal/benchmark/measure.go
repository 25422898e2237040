package benchmark

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Task performs one operation and returns its output: a signature, or the
// decrypted plaintext. A task is called by one goroutine at a time.
type Task func() ([]byte, error)

// Window is how long Measure runs: Warmup first, whose operations are not
// counted (connections, sessions and caches settle), then Measured.
type Window struct {
	Warmup   time.Duration
	Measured time.Duration
}

// Stats summarises one measurement.
type Stats struct {
	// Ops is the number of operations that started and ended inside the
	// measured window.
	Ops int
	// PerSecond is Ops divided by the measured window.
	PerSecond float64
	// P50 and P99 are latency percentiles of those operations, the time from
	// the call to its return as the caller sees it.
	P50, P99 time.Duration
	// CallerCPU is the CPU time (user and system) the caller's process
	// spent in the measured window, divided by Ops: what an operation costs
	// the application's machine, whatever it costs the HSM's. Zero when
	// not measured.
	CallerCPU time.Duration `json:",omitempty"`
}

// Measure calls each task in a loop on a goroutine of its own, so that
// len(tasks) operations are always in flight, for w.Warmup plus w.Measured,
// and returns what the measured window saw. The window stays open past
// w.Measured until one operation has started and ended inside it: on a
// machine busy enough to stall one call for the whole window, the result is
// one slow operation, measured over the time it took, rather than none. The
// first error stops every goroutine and is returned.
func Measure(tasks []Task, w Window) (Stats, error) {
	return MeasureCPU(tasks, w, nil)
}

// MeasureCPU is Measure that also reads cpu, the CPU time the process has
// used so far, when the measured window opens and when it closes, for
// Stats.CallerCPU; nil measures no CPU time.
func MeasureCPU(tasks []Task, w Window, cpu func() time.Duration) (Stats, error) {
	if len(tasks) == 0 {
		return Stats{}, errors.New("benchmark: no tasks")
	}
	if w.Measured <= 0 {
		return Stats{}, errors.New("benchmark: the measured window must be positive")
	}
	start := time.Now()
	from, until := start.Add(w.Warmup), start.Add(w.Warmup+w.Measured)
	// The CPU time is read when the window opens and once every task has
	// stopped, and divided by the operations that started in between
	// (those counted, and the last of each task, which ends after the
	// window).
	var cpuFrom atomic.Int64
	var since atomic.Int64
	if cpu != nil {
		t := time.AfterFunc(w.Warmup, func() { cpuFrom.Store(int64(cpu())) })
		defer t.Stop()
	}
	var (
		failed   atomic.Bool
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	// firstEnd is when the first operation that started inside the window
	// ended, in nanoseconds since start; the window closes at the later of
	// until and firstEnd.
	var firstEnd atomic.Int64
	firstEnd.Store(-1)
	type op struct{ end, latency time.Duration }
	ops := make([][]op, len(tasks))
	for i, task := range tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var own []op
			for !failed.Load() {
				t0 := time.Now()
				if _, err := task(); err != nil {
					errOnce.Do(func() { firstErr = err })
					failed.Store(true)
					return
				}
				t1 := time.Now()
				if !t0.Before(from) {
					since.Add(1)
					end := t1.Sub(start)
					firstEnd.CompareAndSwap(-1, int64(end))
					own = append(own, op{end: end, latency: t1.Sub(t0)})
				}
				if !t1.Before(until) && firstEnd.Load() >= 0 {
					break
				}
			}
			ops[i] = own
		}()
	}
	wg.Wait()
	closed := max(until.Sub(start), time.Duration(firstEnd.Load()))
	var all []time.Duration
	for _, own := range ops {
		for _, o := range own {
			if o.end <= closed {
				all = append(all, o.latency)
			}
		}
	}
	var cpuUsed time.Duration
	if a := cpuFrom.Load(); a > 0 {
		cpuUsed = cpu() - time.Duration(a)
	}
	if firstErr != nil {
		return Stats{}, firstErr
	}
	if len(all) == 0 {
		return Stats{}, fmt.Errorf("benchmark: no operation completed inside the %v window", w.Measured)
	}
	slices.Sort(all)
	st := Stats{
		Ops:       len(all),
		PerSecond: float64(len(all)) / (closed - w.Warmup).Seconds(),
		P50:       percentile(all, 50),
		P99:       percentile(all, 99),
	}
	if n := since.Load(); cpuUsed > 0 && n > 0 {
		st.CallerCPU = cpuUsed / time.Duration(n)
	}
	return st, nil
}

// percentile returns the p-th percentile of sorted by the nearest-rank
// method: the smallest value at or below which p percent of values lie.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

// Prepared is what a backend sets up for one measurement.
type Prepared struct {
	// Public is the public half of the key the tasks use.
	Public any
	// Tasks holds one task per goroutine.
	Tasks []Task
	// Release frees what the tasks hold (sessions, say); nil when nothing.
	Release func()
}

// CheckTasks runs every task once and checks its output with Check, so that
// a measurement never counts operations that do not do the real work.
func CheckTasks(op Operation, p Prepared) error {
	for i, task := range p.Tasks {
		out, err := task()
		if err != nil {
			return fmt.Errorf("task %d: %w", i, err)
		}
		if err := Check(op, p.Public, out); err != nil {
			return fmt.Errorf("task %d: %w", i, err)
		}
	}
	return nil
}
