// Command benchrun measures berth against Docker Engine through the same
// docker CLI and writes the results as a Markdown table and an SVG chart.
// bench/run.sh starts the daemons and calls it; it can also be pointed at
// daemons that are already running.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

func main() {
	var (
		berthHost   = flag.String("berth-host", "", "DOCKER_HOST of berth (empty: berth is not measured)")
		berthPIDs   = flag.String("berth-pids", "", "pid of the berth daemon")
		berthRoot   = flag.String("berth-root", "", "path in every berth-shim command line of this daemon")
		berthNA     = flag.String("berth-unavailable", "", "why berth is not measured")
		dockerHost  = flag.String("docker-host", "", "DOCKER_HOST of Docker Engine (empty: Docker is not measured)")
		dockerPIDs  = flag.String("docker-pids", "", "pids of dockerd and its containerd, comma-separated")
		dockerRoot  = flag.String("docker-root", "", "path in every containerd-shim command line of this dockerd")
		dockerNA    = flag.String("docker-unavailable", "", "why Docker is not measured")
		netkit      = flag.String("netkit", "netkit", "netkit built for the host")
		hostAddr    = flag.String("host-addr", "", "a non-loopback address of the host, for published ports")
		quickMode   = flag.Bool("quick", false, "small sample sizes (a couple of minutes)")
		outDir      = flag.String("out", "bench/results", "where to write <date>-<hostname>.md/.svg and latest.md/.svg")
		budget      = flag.Duration("budget", 13*time.Minute, "time left for measuring; optional steps are skipped past it")
		berthPortLo = flag.Int("berth-port", 18101, "first of two host ports published by berth")
		dockerPort  = flag.Int("docker-port", 18201, "first of two host ports published by Docker")
	)
	flag.Parse()
	start := time.Now()
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "[%5.0fs] "+format+"\n", append([]any{time.Since(start).Seconds()}, args...)...)
	}
	if *hostAddr == "" {
		fmt.Fprintln(os.Stderr, "benchrun: -host-addr is required")
		os.Exit(2)
	}

	b := &bench{res: newResults(), n: full(), netkit: *netkit, hostAddr: *hostAddr,
		deadline: start.Add(*budget), logf: logf}
	if *quickMode {
		b.n = quick()
	}
	if *berthHost != "" {
		b.engines = append(b.engines, &engine{name: "berth", host: *berthHost, daemons: pids(*berthPIDs),
			shim: "berth-shim", root: *berthRoot, port: *berthPortLo})
	}
	if *dockerHost != "" {
		b.engines = append(b.engines, &engine{name: "docker", host: *dockerHost, daemons: pids(*dockerPIDs),
			shim: "containerd-shim-runc-v2", root: *dockerRoot, port: *dockerPort})
	}
	unavailable := map[string]string{"berth": *berthNA, "docker": *dockerNA}
	for name, host := range map[string]string{"berth": *berthHost, "docker": *dockerHost} {
		if host == "" && unavailable[name] == "" {
			unavailable[name] = "not started"
		}
	}
	info := machineInfo(b.engines)

	gone := map[string]bool{}
	// checkAlive notes when a daemon stops answering, which says where in
	// the run it died.
	checkAlive := func(before string) {
		for _, e := range b.engines {
			if !gone[e.name] && !e.alive() {
				gone[e.name] = true
				msg := fmt.Sprintf("%s: the daemon stopped answering (%.0fs into the run, before %s)", e.name, time.Since(start).Seconds(), before)
				logf("  %s", msg)
				b.res.failures = append(b.res.failures, msg)
			}
		}
	}
	steps := []struct {
		name string
		run  func()
	}{
		{"warm-up", b.warmUp}, {"run", b.stepRun}, {"networks", b.stepNetworks}, {"traffic", b.stepTraffic},
		{"DNS", b.stepDNS}, {"scale", b.stepScale}, {"ports", b.stepPorts}, {"final cleanup", b.cleanAll},
	}
	for _, st := range steps {
		if len(b.engines) == 0 {
			break
		}
		checkAlive("step " + st.name)
		st.run()
	}
	checkAlive("the end of the run")

	host, _ := os.Hostname()
	stamp := start.Format("2006-01-02") + "-" + host
	mode := "full"
	if *quickMode {
		mode = "quick (BENCH_QUICK=1: small samples, for development only)"
	}
	rep := report{
		title: "berth vs Docker Engine", date: start.UTC().Format("2006-01-02 15:04 UTC"), host: host,
		mode: mode, elapsed: time.Since(start).Round(time.Second), metrics: metrics(b.n, *hostAddr),
		res: b.res, engines: b.names(), unavailable: unavailable, info: info, sizes: b.n,
	}
	svg := rep.svg()
	rep.chart = stamp + ".svg"
	md := rep.markdown()
	rep.chart = "latest.svg"
	latest := rep.markdown()
	fmt.Println(rep.table())
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
	for name, data := range map[string]string{stamp + ".md": md, stamp + ".svg": svg, "latest.md": latest, "latest.svg": svg} {
		if err := os.WriteFile(filepath.Join(*outDir, name), []byte(data), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "benchrun:", err)
			os.Exit(1)
		}
	}
	logf("wrote %s/%s.md and .svg (and latest.md, latest.svg)", *outDir, stamp)
}

func pids(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if p, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// metrics are the rows of the table, in order. Goals are judged on
// berth's value.
func metrics(n sizes, hostAddr string) []metric {
	lessThan := func(x float64) func(b, d float64, hasD bool) (bool, bool) { return abs(x, true) }
	return []metric{
		{key: "run_d", label: fmt.Sprintf("docker run -d busybox sleep, median of %d (ms)", n.runD), unit: "ms", lower: true, prec: 1,
			goal: "≥ 2x faster than Docker", pass: relDocker(func(b, d float64) bool { return 2*b <= d })},
		{key: "run_none", label: "docker run -d --network none (ms)", unit: "ms", lower: true, prec: 1},
		{key: "net_share", label: "network share of start: run -d − run -d --network none (ms)", unit: "ms", lower: true, prec: 1,
			goal: "< 8 ms", pass: lessThan(8)},
		{key: "run_rm", label: fmt.Sprintf("docker run --rm busybox true, median of %d (ms)", n.runRm), unit: "ms", lower: true, prec: 1},
		{key: "net_create", label: fmt.Sprintf("docker network create, median of %d (ms)", n.netN), unit: "ms", lower: true, prec: 1,
			goal: "< 15 ms", pass: lessThan(15)},
		{key: "net_rm", label: fmt.Sprintf("docker network rm, median of %d (ms)", n.netN), unit: "ms", lower: true, prec: 1,
			goal: "< 15 ms", pass: lessThan(15)},
		{key: "cli_floor", label: "docker CLI round trip alone (docker version), same loop (ms)", unit: "ms", lower: true, prec: 1},
		{key: "net_create_srv", label: "network create minus the CLI round trip (ms)", unit: "ms", lower: true, prec: 1},
		{key: "net_rm_srv", label: "network rm minus the CLI round trip (ms)", unit: "ms", lower: true, prec: 1},
		{key: "net_first", label: fmt.Sprintf("network create, first 10 of %d (ms)", n.netScale), unit: "ms", lower: true, prec: 1},
		{key: "net_last", label: fmt.Sprintf("network create, last 10 of %d (ms)", n.netScale), unit: "ms", lower: true, prec: 1},
		{key: "net_ratio", label: fmt.Sprintf("network create, last 10 / first 10 of %d", n.netScale), unit: "x", lower: true, prec: 2,
			goal: "≤ 1.2x", pass: abs(1.2, false)},
		{key: "c2c_tput", label: "container→container TCP throughput (Gbit/s)", unit: "Gbit/s", prec: 2,
			goal: "≥ 0.95x Docker", pass: relDocker(func(b, d float64) bool { return b >= 0.95*d })},
		{key: "c2c_rr", label: fmt.Sprintf("container→container 1-byte RR p50, n=%d (µs)", n.rrN), unit: "µs", lower: true, prec: 1},
		{key: "h2c_direct", label: "host→container IP throughput (Gbit/s)", unit: "Gbit/s", prec: 2},
		{key: "h2c_loop", label: "host→127.0.0.1:port throughput (Gbit/s)", unit: "Gbit/s", prec: 2},
		{key: "h2c_addr", label: fmt.Sprintf("host→%s:port throughput (Gbit/s)", hostAddr), unit: "Gbit/s", prec: 2},
		{key: "h2c_loop_ratio", label: "127.0.0.1:port / direct", unit: "x", prec: 2,
			goal: "≥ 0.9x direct", pass: atLeast(0.9)},
		{key: "h2c_addr_ratio", label: fmt.Sprintf("%s:port / direct", hostAddr), unit: "x", prec: 2,
			goal: "≥ 0.9x direct", pass: atLeast(0.9)},
		{key: "dns_p50", label: fmt.Sprintf("DNS A query p50, embedded resolver, n=%d (µs)", n.dnsN), unit: "µs", lower: true, prec: 1,
			goal: "< 100 µs", pass: lessThan(100)},
		{key: "dns_p99", label: "DNS A query p99 (µs)", unit: "µs", lower: true, prec: 1},
		{key: "dns_fail", label: fmt.Sprintf("DNS failures of %d", n.dnsN), unit: "", lower: true, prec: 0,
			goal: "0", pass: abs(0, false)},
		{key: "seq_first", label: fmt.Sprintf("run -d, first 10 of %d sequential (ms)", n.seqN), unit: "ms", lower: true, prec: 1},
		{key: "seq_last", label: fmt.Sprintf("run -d, last 10 of %d sequential (ms)", n.seqN), unit: "ms", lower: true, prec: 1},
		{key: "seq_ratio", label: fmt.Sprintf("run -d, last 10 / first 10 of %d", n.seqN), unit: "x", lower: true, prec: 2},
		{key: "rm_per", label: fmt.Sprintf("docker rm -f of %d containers, per container (ms)", n.seqN), unit: "ms", lower: true, prec: 1},
		{key: "ports_first", label: fmt.Sprintf("run -d with %d published ports, first 10 of %d (ms)", n.portsPe, n.portsN), unit: "ms", lower: true, prec: 1},
		{key: "ports_last", label: fmt.Sprintf("run -d with %d published ports, last 10 of %d (ms)", n.portsPe, n.portsN), unit: "ms", lower: true, prec: 1},
		{key: "ports_ratio", label: fmt.Sprintf("run -d with %d ports, last 10 / first 10 of %d", n.portsPe, n.portsN), unit: "x", lower: true, prec: 2,
			goal: "≤ 1.3x", pass: abs(1.3, false)},
		{key: "rm_ports_per", label: fmt.Sprintf("docker rm -f of %d containers with ports, per container (ms)", n.portsN), unit: "ms", lower: true, prec: 1},
		{key: "daemon_rss", label: fmt.Sprintf("daemon RSS, %d containers running (MB)", n.memAt), unit: "MB", lower: true, prec: 1,
			goal: "< 60 MB", pass: lessThan(60)},
		{key: "shim_rss", label: "shim RSS per container (MB)", unit: "MB", lower: true, prec: 2,
			goal: "< 5 MB", pass: lessThan(5)},
		{key: "shim_pss", label: "shim PSS per container, shared pages split (MB)", unit: "MB", lower: true, prec: 2},
	}
}

// machineInfo describes the host and the engines' versions.
func machineInfo(engines []*engine) [][2]string {
	read := func(p string) string {
		b, _ := os.ReadFile(p)
		return strings.TrimSpace(string(b))
	}
	info := [][2]string{
		{"nproc", strconv.Itoa(runtime.NumCPU())},
		{"kernel", read("/proc/sys/kernel/osrelease")},
	}
	for _, line := range strings.Split(read("/proc/cpuinfo"), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			info = append(info, [2]string{"cpu", strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))})
			break
		}
	}
	for _, line := range strings.Split(read("/proc/meminfo"), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
			info = append(info, [2]string{"memory", fmt.Sprintf("%.1f GiB", kb/1024/1024)})
		}
	}
	for _, e := range engines {
		v, err := e.cmd("version", "--format", "{{.Server.Version}} (API {{.Server.APIVersion}}); client {{.Client.Version}}")
		if err != nil {
			v = "unknown: " + err.Error()
		}
		info = append(info, [2]string{e.name + " version", v})
		if e.name == "docker" {
			if c, err := e.cmd("version", "--format", "{{range .Server.Components}}{{.Name}} {{.Version}}; {{end}}"); err == nil {
				info = append(info, [2]string{"docker components", strings.TrimSuffix(c, ";")})
			}
		}
	}
	if out, err := runOut("runc", "--version"); err == nil {
		info = append(info, [2]string{"runc", strings.Join(strings.Fields(strings.Split(out, "\n")[0]), " ")})
	}
	return info
}
