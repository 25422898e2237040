package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/keyhold/keyhold/cmd/keyhold-bench/internal/benchmark"
	"github.com/keyhold/keyhold/cmd/keyhold-bench/internal/benchmark/report"
)

// comparisons are the ratios the report computes: keyhold against what a Go
// program would use instead, and each path against its counterpart.
var comparisons = []report.Comparison{
	{Title: "keyhold SDK (1 node) ÷ crypto11 over SoftHSM2", Numerator: "keyhold-sdk", Denominator: "crypto11-softhsm2"},
	{Title: "keyhold SDK over SoftHSM2 ÷ crypto11 over SoftHSM2 (same token)", Numerator: "keyhold-sdk-softhsm2", Denominator: "crypto11-softhsm2"},
	{Title: "keyhold SDK (1 node) ÷ Go standard library", Numerator: "keyhold-sdk", Denominator: "stdlib"},
	{Title: "crypto11 over SoftHSM2 ÷ Go standard library", Numerator: "crypto11-softhsm2", Denominator: "stdlib"},
	{Title: "libkeyhold.so ÷ SoftHSM2, both via miekg/pkcs11", Numerator: "keyhold-pkcs11", Denominator: "pkcs11-softhsm2"},
	{Title: "crypto11 over libkeyhold.so ÷ crypto11 over SoftHSM2", Numerator: "crypto11-keyhold", Denominator: "crypto11-softhsm2"},
	{Title: "keyhold SDK: 3-node cluster ÷ 1 node", Numerator: "keyhold-sdk-cluster", Denominator: "keyhold-sdk"},
}

// render writes the report of a past run again, from its JSON results: the
// page's text or the notes can change without measuring again. The page
// keeps the command that measured the numbers.
func render(o options) error {
	data, err := os.ReadFile(o.render)
	if err != nil {
		return err
	}
	var run benchmark.Run
	if err := json.Unmarshal(data, &run); err != nil {
		return fmt.Errorf("%s: %w", o.render, err)
	}
	return writeReport(o.out, &run, o.notes)
}

// writeReport writes the Markdown report to path, with notesFile's text at
// its end, and next to it, under the same name, the throughput chart
// (.png), the latency chart (-latency.png) and every result of every round
// (.json).
func writeReport(path string, run *benchmark.Run, notesFile string) error {
	var notes []byte
	if notesFile != "" {
		var err error
		if notes, err = os.ReadFile(notesFile); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	base := strings.TrimSuffix(path, filepath.Ext(path))
	data, err := json.MarshalIndent(run, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(base+".json", append(data, '\n'), 0o644); err != nil {
		return err
	}
	chart, err := report.Chart(run)
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	if err := os.WriteFile(base+".png", chart, 0o644); err != nil {
		return err
	}
	latency, err := report.LatencyChart(run)
	if err != nil {
		return fmt.Errorf("latency chart: %w", err)
	}
	if err := os.WriteFile(base+"-latency.png", latency, 0o644); err != nil {
		return err
	}
	measured := func(name string) bool {
		return slices.ContainsFunc(run.Backends, func(b benchmark.Backend) bool { return b.Name == name })
	}
	var comps []report.Comparison
	for _, c := range comparisons {
		if measured(c.Numerator) && measured(c.Denominator) {
			comps = append(comps, c)
		}
	}
	md := report.Markdown(run, report.Options{
		ChartFile:        filepath.Base(base + ".png"),
		LatencyChartFile: filepath.Base(base + "-latency.png"),
		Comparisons:      comps,
		Notes:            notes,
	})
	return os.WriteFile(path, md, 0o644)
}
