package main

import (
	"fmt"
	"slices"
	"sort"
	"time"
)

// metric is one row of the table and of the chart.
type metric struct {
	key   string
	label string
	unit  string
	lower bool // lower is better
	prec  int  // decimals shown
	goal  string
	// pass judges berth's value b against the goal; d is Docker's value
	// and hasD tells whether there is one. ok=false, known=false: the goal
	// cannot be judged (e.g. it is relative to Docker and Docker is absent).
	pass func(b, d float64, hasD bool) (ok, known bool)
}

func abs(limit float64, less bool) func(b, d float64, hasD bool) (bool, bool) {
	return func(b, _ float64, _ bool) (bool, bool) {
		if less {
			return b < limit, true
		}
		return b <= limit, true
	}
}

func atLeast(limit float64) func(b, d float64, hasD bool) (bool, bool) {
	return func(b, _ float64, _ bool) (bool, bool) { return b >= limit, true }
}

func relDocker(f func(b, d float64) bool) func(b, d float64, hasD bool) (bool, bool) {
	return func(b, d float64, hasD bool) (bool, bool) {
		if !hasD {
			return false, false
		}
		return f(b, d), true
	}
}

// results holds every measured value, by metric and engine, and what went
// wrong.
type results struct {
	vals     map[string]map[string]float64
	notes    map[string]map[string]string
	failures []string
	skipped  []string
}

func newResults() *results {
	return &results{vals: map[string]map[string]float64{}, notes: map[string]map[string]string{}}
}

func (r *results) set(key, eng string, v float64) {
	if r.vals[key] == nil {
		r.vals[key] = map[string]float64{}
	}
	r.vals[key][eng] = v
}

func (r *results) get(key, eng string) (float64, bool) {
	v, ok := r.vals[key][eng]
	return v, ok
}

func (r *results) note(key, eng, text string) {
	if r.notes[key] == nil {
		r.notes[key] = map[string]string{}
	}
	if _, ok := r.notes[key][eng]; !ok {
		r.notes[key][eng] = text
	}
}

// fail marks the metrics as failed for the engine and keeps the error (the
// exact command and its output) for the report.
func (r *results) fail(eng string, err error, keys ...string) {
	for _, k := range keys {
		r.note(k, eng, "FAIL")
	}
	msg := fmt.Sprintf("%s: %v", eng, err)
	if !slices.Contains(r.failures, msg) {
		r.failures = append(r.failures, msg)
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
