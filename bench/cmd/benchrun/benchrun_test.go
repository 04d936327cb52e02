package main

import (
	"encoding/xml"
	"errors"
	"strings"
	"testing"
)

func TestMedianAndFirstLast(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("odd median %v", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("even median %v", m)
	}
	xs := make([]float64, 100)
	for i := range xs {
		xs[i] = float64(i)
	}
	if f, l := firstLast(xs); f != 4.5 || l != 94.5 {
		t.Errorf("firstLast(0..99) = %v, %v", f, l)
	}
	if f, l := firstLast(xs[:6]); f != 1 || l != 4 {
		t.Errorf("firstLast(0..5) = %v, %v", f, l)
	}
}

func TestKV(t *testing.T) {
	out := "some log line\nn=10000 failures=2 p50_us=41.5 p99_us=80.0\n"
	if v, err := kvFloat(out, "p50_us"); err != nil || v != 41.5 {
		t.Fatalf("p50 %v %v", v, err)
	}
	if v, err := kvFloat(out, "failures"); err != nil || v != 2 {
		t.Fatalf("failures %v %v", v, err)
	}
	if _, err := kvFloat("no numbers here", "x"); err == nil {
		t.Fatal("missing key accepted")
	}
}

func sampleReport() *report {
	res := newResults()
	res.set("run_d", "berth", 100)
	res.set("run_d", "docker", 300)
	res.set("run_none", "berth", 95)
	res.set("run_none", "docker", 260)
	res.set("net_share", "berth", 5)
	res.set("net_share", "docker", 40)
	res.set("c2c_tput", "berth", 9)
	res.set("c2c_tput", "docker", 10)
	res.fail("berth", errors.New("`docker run x` (berth): exit status 125: <boom> & more"), "h2c_loop")
	res.set("h2c_loop", "docker", 5)
	return &report{title: "t", date: "d", host: "h", mode: "quick", metrics: metrics(quick(), "192.0.2.2"),
		res: res, engines: []string{"berth", "docker"}, unavailable: map[string]string{}, sizes: quick(), chart: "c.svg"}
}

func TestReport(t *testing.T) {
	r := sampleReport()
	tab := r.table()
	for _, want := range []string{
		"| docker run -d busybox sleep, median of 6 (ms) | 100.0 | 300.0 | 0.33x | ≥ 2x faster than Docker ✅ |",
		"| network share of start: run -d − run -d --network none (ms) | 5.0 | 40.0 | 0.12x | < 8 ms ✅ |",
		"| container→container TCP throughput (Gbit/s) | 9.00 | 10.00 | 0.90x | ≥ 0.95x Docker ❌ |",
		"| host→127.0.0.1:port throughput (Gbit/s) | FAIL | 5.00 | — |  |",
	} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
	md := r.markdown()
	if !strings.Contains(md, "## Failures") || !strings.Contains(md, "![chart](c.svg)") {
		t.Errorf("markdown:\n%s", md)
	}
}

func TestReportDockerUnavailable(t *testing.T) {
	r := sampleReport()
	r.engines = []string{"berth"}
	r.unavailable = map[string]string{"docker": "apt-get install docker.io failed"}
	tab := r.table()
	if !strings.Contains(tab, "docker: unavailable (apt-get install docker.io failed)") {
		t.Errorf("no unavailable reason:\n%s", tab)
	}
	if !strings.Contains(tab, "≥ 2x faster than Docker (needs Docker)") {
		t.Errorf("relative goal judged without Docker:\n%s", tab)
	}
}

func TestSVGIsWellFormed(t *testing.T) {
	svg := sampleReport().svg()
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := d.Token()
		if err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("svg is not well-formed XML: %v", err)
		}
	}
	for _, want := range []string{"100.0 ms", "300.0 ms", "FAIL", "berth", "Docker Engine"} {
		if !strings.Contains(svg, want) {
			t.Errorf("svg lacks %q", want)
		}
	}
}
