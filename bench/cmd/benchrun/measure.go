package main

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// sizes of each measurement; quick() makes a development run of a couple
// of minutes.
type sizes struct {
	runD, runRm     int // docker run -d / --rm samples per engine
	netN, netScale  int // network create+rm samples; networks in the scaling run
	tputRuns        int // container→container throughput and RR runs
	h2cRuns         int // rounds of the three host→container paths
	tputDur         time.Duration
	rrN, dnsN       int
	seqN, memAt     int // sequential starts; memory is read at memAt running containers
	portsN, portsPe int // containers with portsPe published ports each (berth only)
}

func full() sizes {
	return sizes{runD: 30, runRm: 20, netN: 20, netScale: 100, tputRuns: 3, h2cRuns: 5, tputDur: 3 * time.Second,
		rrN: 10000, dnsN: 10000, seqN: 200, memAt: 50, portsN: 300, portsPe: 10}
}

func quick() sizes {
	return sizes{runD: 6, runRm: 4, netN: 5, netScale: 20, tputRuns: 1, h2cRuns: 1, tputDur: 2 * time.Second,
		rrN: 2000, dnsN: 2000, seqN: 30, memAt: 30, portsN: 30, portsPe: 10}
}

type bench struct {
	engines  []*engine
	res      *results
	n        sizes
	netkit   string // netkit built for the host
	hostAddr string // a non-loopback address of the host
	deadline time.Time
	logf     func(format string, args ...any)
}

// order alternates which engine goes first, so that drifting noise on a
// shared machine hits both alike.
func (b *bench) order(i int) []*engine {
	if i%2 == 0 {
		return b.engines
	}
	r := make([]*engine, len(b.engines))
	for j, e := range b.engines {
		r[len(r)-1-j] = e
	}
	return r
}

func (b *bench) names() []string {
	var s []string
	for _, e := range b.engines {
		s = append(s, e.name)
	}
	return s
}

// samples collects values by metric and engine.
type samples map[string]map[string][]float64

func (s samples) add(key, eng string, v float64) {
	if s[key] == nil {
		s[key] = map[string][]float64{}
	}
	s[key][eng] = append(s[key][eng], v)
}

func (b *bench) setMedians(s samples) {
	for key, byEng := range s {
		for eng, xs := range byEng {
			if len(xs) > 0 {
				b.res.set(key, eng, median(xs))
			}
		}
	}
}

// loop runs f n times for every engine, interleaved. An engine whose call
// fails is marked failed for keys and left out of the rest of the loop.
func (b *bench) loop(n int, keys []string, f func(i int, e *engine) error) {
	broken := map[string]bool{}
	for i := 0; i < n; i++ {
		b.each(i, broken, keys, f)
	}
}

// each runs f once per engine that is not broken, in the order for round i.
func (b *bench) each(i int, broken map[string]bool, keys []string, f func(i int, e *engine) error) {
	for _, e := range b.order(i) {
		if broken[e.name] {
			continue
		}
		if err := f(i, e); err != nil {
			broken[e.name] = true
			b.res.fail(e.name, err, keys...)
			b.logf("  %s failed: %v", e.name, err)
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func (b *bench) cleanAll() {
	for _, e := range b.engines {
		if err := e.removeAll(); err != nil {
			b.logf("  %s: cleaning up containers: %v", e.name, err)
		}
	}
}

// warmUp runs one container per engine, untimed, so that first-use costs
// (page cache, lazily made directories) stay out of the samples.
func (b *bench) warmUp() {
	for _, e := range b.engines {
		if _, err := e.cmd("run", "--rm", "busybox", "true"); err != nil {
			b.res.fail(e.name, err)
			b.logf("  %s warm-up failed: %v", e.name, err)
		}
	}
}

func (b *bench) stepRun() {
	b.logf("run -d / run -d --network none: n=%d", b.n.runD)
	s := samples{}
	ids := map[string][]string{}
	variants := []struct {
		key  string
		args []string
	}{
		{"run_d", []string{"run", "-d", "busybox", "sleep", "600"}},
		{"run_none", []string{"run", "-d", "--network", "none", "busybox", "sleep", "600"}},
	}
	b.loop(b.n.runD, []string{"run_d", "run_none", "net_share"}, func(i int, e *engine) error {
		pair := map[string]float64{}
		for j := range variants {
			v := variants[(i+j)%len(variants)]
			d, out, err := e.timed(v.args...)
			if err != nil {
				return err
			}
			s.add(v.key, e.name, ms(d))
			pair[v.key] = ms(d)
			ids[e.name] = append(ids[e.name], lastLine(out))
		}
		// The network's share is taken from the two starts made back to
		// back, which cancels most of the machine's drifting load.
		s.add("net_share", e.name, pair["run_d"]-pair["run_none"])
		// Removal is outside the timing; batches keep the count low.
		if len(ids[e.name]) >= 10 || i == b.n.runD-1 {
			e.removeIDs(ids[e.name])
			ids[e.name] = nil
		}
		return nil
	})
	b.setMedians(s)
	b.cleanAll()

	b.logf("run --rm busybox true: n=%d", b.n.runRm)
	s = samples{}
	b.loop(b.n.runRm, []string{"run_rm"}, func(i int, e *engine) error {
		d, _, err := e.timed("run", "--rm", "busybox", "true")
		if err == nil {
			s.add("run_rm", e.name, ms(d))
		}
		return err
	})
	b.setMedians(s)
	b.cleanAll()
}

// firstLast returns the medians of the first and last k samples.
func firstLast(xs []float64) (first, last float64) {
	k := min(10, len(xs)/2)
	if k == 0 {
		return 0, 0
	}
	return median(xs[:k]), median(xs[len(xs)-k:])
}

func (b *bench) stepNetworks() {
	b.logf("network create / rm: n=%d", b.n.netN)
	s := samples{}
	b.loop(b.n.netN, []string{"net_create", "net_rm", "cli_floor", "net_create_srv", "net_rm_srv"}, func(i int, e *engine) error {
		// The docker CLI's own round trip (a ping and one request) is
		// measured next to each command, so the daemon's share can be told.
		floor, _, err := e.timed("version", "--format", "{{.Server.Version}}")
		if err != nil {
			return err
		}
		s.add("cli_floor", e.name, ms(floor))
		name := fmt.Sprintf("bbench-n%d", i)
		d, _, err := e.timed("network", "create", name)
		if err != nil {
			return err
		}
		s.add("net_create", e.name, ms(d))
		s.add("net_create_srv", e.name, ms(max(0, d-floor)))
		d, _, err = e.timed("network", "rm", name)
		if err != nil {
			return err
		}
		s.add("net_rm", e.name, ms(d))
		s.add("net_rm_srv", e.name, ms(max(0, d-floor)))
		return nil
	})
	b.setMedians(s)

	// Scaling series run one engine at a time, so that each engine's
	// growth is measured against its own objects only.
	keys := []string{"net_first", "net_last", "net_ratio"}
	for _, e := range b.engines {
		b.logf("%s: network create, %d networks", e.name, b.n.netScale)
		var times []float64
		var names []string
		err := b.series(e, b.n.netScale, func(i int) error {
			name := fmt.Sprintf("bbench-s%d", i)
			d, _, err := e.timed("network", "create", name)
			if err == nil {
				times = append(times, ms(d))
				names = append(names, name)
			}
			return err
		})
		if err != nil {
			b.res.fail(e.name, err, keys...)
		} else {
			first, last := firstLast(times)
			b.res.set("net_first", e.name, first)
			b.res.set("net_last", e.name, last)
			b.res.set("net_ratio", e.name, last/first)
		}
		if len(names) > 0 {
			if _, err := e.cmd(append([]string{"network", "rm"}, names...)...); err != nil {
				b.res.fail(e.name, err)
			}
		}
	}
}

// series runs f n times on one engine and stops at the first error.
func (b *bench) series(e *engine, n int, f func(i int) error) error {
	for i := 0; i < n; i++ {
		if err := f(i); err != nil {
			b.logf("  %s failed: %v", e.name, err)
			return err
		}
	}
	return nil
}

// waitTCP waits until addr accepts connections.
func waitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not reachable after %v: %w", addr, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hostTput runs netkit's throughput client on the host.
func (b *bench) hostTput(addr string) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), b.n.tputDur+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, b.netkit, "tput-client", "-d", b.n.tputDur.String(), addr).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("`netkit tput-client %s` on the host: %v: %s", addr, err, strings.TrimSpace(string(out)))
	}
	return kvFloat(string(out), "gbit_per_s")
}

func (b *bench) stepTraffic() {
	c2cKeys := []string{"c2c_tput", "c2c_rr"}
	h2cKeys := []string{"h2c_direct", "h2c_loop", "h2c_addr", "h2c_loop_ratio", "h2c_addr_ratio"}
	type server struct {
		e            *engine
		ip           string
		loop, hostad string
	}
	var servers []server
	for _, e := range b.engines {
		loop := fmt.Sprintf("127.0.0.1:%d", e.port)
		hostad := net.JoinHostPort(b.hostAddr, strconv.Itoa(e.port+1))
		_, err := e.cmd("run", "-d", "--name", "bbench-srv",
			"-p", loop+":5001", "-p", hostad+":5001",
			"busybox", "sh", "-c", "netkit tput-server -l :5001 & exec netkit rr-server -l :5002")
		var ip string
		if err == nil {
			ip, err = e.containerIP("bbench-srv")
		}
		if err == nil {
			err = waitTCP(ip+":5001", 10*time.Second)
		}
		if err == nil {
			err = waitTCP(ip+":5002", 10*time.Second)
		}
		if err != nil {
			b.res.fail(e.name, err, append(c2cKeys, h2cKeys...)...)
			b.logf("  %s: server container: %v", e.name, err)
			continue
		}
		servers = append(servers, server{e, ip, loop, hostad})
	}
	byName := map[string]server{}
	for _, sv := range servers {
		byName[sv.e.name] = sv
	}
	ready := func(e *engine) (server, error) {
		sv, ok := byName[e.name]
		if !ok {
			return sv, fmt.Errorf("no server container")
		}
		return sv, nil
	}

	dur := b.n.tputDur.String()
	b.logf("container→container throughput: %d × %s", b.n.tputRuns, dur)
	s := samples{}
	b.loop(b.n.tputRuns, []string{"c2c_tput"}, func(i int, e *engine) error {
		sv, err := ready(e)
		if err != nil {
			return nil
		}
		out, err := e.cmd("run", "--rm", "busybox", "netkit", "tput-client", "-d", dur, sv.ip+":5001")
		if err != nil {
			return err
		}
		v, err := kvFloat(out, "gbit_per_s")
		s.add("c2c_tput", e.name, v)
		return err
	})
	b.logf("container→container 1-byte RR: %d × n=%d", b.n.tputRuns, b.n.rrN)
	b.loop(b.n.tputRuns, []string{"c2c_rr"}, func(i int, e *engine) error {
		sv, err := ready(e)
		if err != nil {
			return nil
		}
		out, err := e.cmd("run", "--rm", "busybox", "netkit", "rr-client", "-n", strconv.Itoa(b.n.rrN), sv.ip+":5002")
		if err != nil {
			return err
		}
		v, err := kvFloat(out, "p50_us")
		s.add("c2c_rr", e.name, v)
		return err
	})

	b.logf("host→container throughput (direct, 127.0.0.1:port, %s:port): %d × %s", b.hostAddr, b.n.h2cRuns, dur)
	// Each round measures the three paths back to back, and the ratios to
	// direct are taken within a round, so that load from other work on the
	// machine, which drifts over seconds, mostly cancels out.
	broken := map[string]map[string]bool{"h2c_direct": {}, "h2c_loop": {}, "h2c_addr": {}}
	for r := 0; r < b.n.h2cRuns; r++ {
		round := map[string]map[string]float64{}
		for t, key := range []string{"h2c_direct", "h2c_loop", "h2c_addr"} {
			b.each(r*3+t, broken[key], []string{key}, func(_ int, e *engine) error {
				sv, err := ready(e)
				if err != nil {
					return nil
				}
				addr := []string{sv.ip + ":5001", sv.loop, sv.hostad}[t]
				v, err := b.hostTput(addr)
				if err == nil {
					s.add(key, e.name, v)
					if round[e.name] == nil {
						round[e.name] = map[string]float64{}
					}
					round[e.name][key] = v
				}
				return err
			})
		}
		for eng, vals := range round {
			direct, ok := vals["h2c_direct"]
			if !ok || direct == 0 {
				continue
			}
			for _, key := range []string{"h2c_loop", "h2c_addr"} {
				if v, ok := vals[key]; ok {
					s.add(key+"_ratio", eng, v/direct)
				}
			}
		}
	}
	b.setMedians(s)
	for _, key := range []string{"h2c_loop", "h2c_addr"} {
		for _, e := range b.engines {
			if b.res.notes[key][e.name] != "" || b.res.notes["h2c_direct"][e.name] != "" {
				b.res.note(key+"_ratio", e.name, "FAIL")
			}
		}
	}
	b.cleanAll()
}

func (b *bench) stepDNS() {
	b.logf("DNS: %d queries for redis on a user-defined network", b.n.dnsN)
	keys := []string{"dns_p50", "dns_p99", "dns_fail"}
	b.loop(1, keys, func(_ int, e *engine) error {
		if _, err := e.cmd("network", "create", "bbench-dns"); err != nil {
			return err
		}
		defer e.cmd("network", "rm", "bbench-dns")
		defer e.cmd("rm", "-f", "redis")
		if _, err := e.cmd("run", "-d", "--network", "bbench-dns", "--name", "redis", "busybox", "sleep", "600"); err != nil {
			return err
		}
		out, err := e.cmd("run", "--rm", "--network", "bbench-dns", "busybox",
			"netkit", "dnsbench", "-n", strconv.Itoa(b.n.dnsN), "-name", "redis")
		if err != nil {
			return err
		}
		for key, field := range map[string]string{"dns_p50": "p50_us", "dns_p99": "p99_us", "dns_fail": "failures"} {
			v, err := kvFloat(out, field)
			if err != nil {
				return err
			}
			b.res.set(key, e.name, v)
		}
		if f, _ := kvFloat(out, "failures"); f > 0 {
			b.res.failures = append(b.res.failures, fmt.Sprintf("%s: dnsbench: %s", e.name, out))
		}
		return nil
	})
}

// startSeries starts containers i0..i1-1 on one engine and adds each
// start time to times.
func (b *bench) startSeries(e *engine, i0, i1 int, times *[]float64, args func(i int) []string) error {
	return b.series(e, i1-i0, func(i int) error {
		d, _, err := e.timed(args(i0 + i)...)
		if err == nil {
			*times = append(*times, ms(d))
		}
		return err
	})
}

// timeRemoveAll times `docker rm -f $(docker ps -aq)` and returns ms per
// container.
func (b *bench) timeRemoveAll(e *engine) (float64, error) {
	ids, err := e.cmd("ps", "-aq")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(ids)
	if len(f) == 0 {
		return 0, fmt.Errorf("%s: no containers to remove", e.name)
	}
	d, _, err := e.timed(append([]string{"rm", "-f"}, f...)...)
	if err != nil {
		return 0, err
	}
	return ms(d) / float64(len(f)), nil
}

func (b *bench) stepScale() {
	b.cleanAll()
	n := b.n
	keys := []string{"seq_first", "seq_last", "seq_ratio", "daemon_rss", "shim_rss", "shim_pss", "rm_per"}
	sleeper := func(int) []string { return []string{"run", "-d", "busybox", "sleep", "600"} }
	for _, e := range b.engines {
		b.logf("%s: sequential start of %d containers (memory at %d)", e.name, n.seqN, n.memAt)
		var times []float64
		err := b.startSeries(e, 0, n.memAt, &times, sleeper)
		if err == nil {
			b.readMemory(e)
			err = b.startSeries(e, n.memAt, n.seqN, &times, sleeper)
		}
		if err != nil {
			b.res.fail(e.name, err, keys...)
		} else {
			first, last := firstLast(times)
			b.res.set("seq_first", e.name, first)
			b.res.set("seq_last", e.name, last)
			b.res.set("seq_ratio", e.name, last/first)
		}
		if per, err := b.timeRemoveAll(e); err != nil {
			b.res.fail(e.name, err, "rm_per")
		} else {
			b.res.set("rm_per", e.name, per)
		}
		b.cleanAll()
	}
}

// readMemory reads the daemon's and the shims' memory with n.memAt
// containers running.
func (b *bench) readMemory(e *engine) {
	// Let the daemon settle before reading its memory.
	time.Sleep(3 * time.Second)
	rss, err := e.daemonRSS()
	if err != nil {
		b.res.fail(e.name, fmt.Errorf("reading daemon RSS: %w", err), "daemon_rss")
	} else {
		b.res.set("daemon_rss", e.name, rss)
	}
	sum, pss, count := e.shimMem()
	if count == 0 {
		b.res.fail(e.name, fmt.Errorf("no %s processes under %s found", e.shim, e.root), "shim_rss", "shim_pss")
		return
	}
	b.res.set("shim_rss", e.name, sum/float64(b.n.memAt))
	b.res.set("shim_pss", e.name, pss/float64(b.n.memAt))
	b.logf("  %s: daemon %.1f MB, %d %s processes, RSS %.1f MB, PSS %.1f MB in all", e.name, rss, count, e.shim, sum, pss)
}

// stepPorts starts containers with n.portsPe published ports each, on
// berth only: with Docker's userland proxy that would be thousands of
// docker-proxy processes.
func (b *bench) stepPorts() {
	n := b.n
	keys := []string{"ports_first", "ports_last", "ports_ratio", "rm_ports_per"}
	var e *engine
	for _, x := range b.engines {
		if x.name == "berth" {
			e = x
		}
	}
	if e == nil {
		return
	}
	// A rough cost: the median start so far plus headroom for removal.
	per := 0.5
	if v, ok := b.res.get("seq_last", "berth"); ok {
		per = v/1000 + 0.05
	}
	need := time.Duration(float64(n.portsN)*per*float64(time.Second)) + 30*time.Second
	if time.Until(b.deadline) < need {
		b.logf("start with %d ports × %d containers: skipped, needs ~%v, %v left", n.portsPe, n.portsN, need.Round(time.Second), time.Until(b.deadline).Round(time.Second))
		for _, k := range keys {
			b.res.note(k, "berth", "skipped (time)")
		}
		b.res.skipped = append(b.res.skipped, fmt.Sprintf("start with %d published ports × %d containers (needed ~%v)", n.portsPe, n.portsN, need.Round(time.Second)))
		return
	}
	b.logf("berth: sequential start of %d containers with %d published ports each", n.portsN, n.portsPe)
	b.cleanAll()
	var times []float64
	err := b.startSeries(e, 0, n.portsN, &times, func(i int) []string {
		lo := 20000 + i*n.portsPe
		return []string{"run", "-d", "-p", fmt.Sprintf("%d-%d:1000-%d", lo, lo+n.portsPe-1, 1000+n.portsPe-1), "busybox", "sleep", "600"}
	})
	if err != nil {
		b.res.fail("berth", err, keys...)
	} else {
		first, last := firstLast(times)
		b.res.set("ports_first", "berth", first)
		b.res.set("ports_last", "berth", last)
		b.res.set("ports_ratio", "berth", last/first)
	}
	if per, err := b.timeRemoveAll(e); err != nil {
		b.res.fail("berth", err, "rm_ports_per")
	} else {
		b.res.set("rm_ports_per", "berth", per)
	}
	b.cleanAll()
}
