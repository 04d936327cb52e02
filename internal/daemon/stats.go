package daemon

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/container"
	mobycontainer "github.com/moby/moby/api/types/container"
)

// ContainerStats reads one sample of a container's resource use: CPU,
// memory, pids and block I/O from its cgroups (v1), network from its
// namespace. The caller pairs samples to give CPU percentages.
func (d *Daemon) ContainerStats(ref string) (mobycontainer.StatsResponse, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return mobycontainer.StatsResponse{}, err
	}
	rec, _, _, _ := c.snapshot()
	st := mobycontainer.StatsResponse{Name: "/" + rec.Name, ID: rec.ID, OSType: "linux", Read: time.Now().UTC()}
	if rec.State.Status != container.Running {
		return st, nil
	}
	id := rec.ID
	system, cpus := systemCPU()
	st.CPUStats = mobycontainer.CPUStats{
		CPUUsage: mobycontainer.CPUUsage{
			TotalUsage:  readInt(filepath.Join(d.cgroupDir("cpuacct", id), "cpuacct.usage")),
			PercpuUsage: readInts(filepath.Join(d.cgroupDir("cpuacct", id), "cpuacct.usage_percpu")),
		},
		SystemUsage: system, OnlineCPUs: cpus,
	}
	kv := readKV(filepath.Join(d.cgroupDir("cpuacct", id), "cpuacct.stat"))
	st.CPUStats.CPUUsage.UsageInUsermode = kv["user"] * nsPerTick
	st.CPUStats.CPUUsage.UsageInKernelmode = kv["system"] * nsPerTick
	st.MemoryStats = d.memoryStats(id)
	st.PidsStats.Current = readInt(filepath.Join(d.cgroupDir("pids", id), "pids.current"))
	st.PidsStats.Limit = readInt(filepath.Join(d.cgroupDir("pids", id), "pids.max"))
	st.BlkioStats.IoServiceBytesRecursive = blkio(filepath.Join(d.cgroupDir("blkio", id), "blkio.throttle.io_service_bytes_recursive"))
	st.BlkioStats.IoServicedRecursive = blkio(filepath.Join(d.cgroupDir("blkio", id), "blkio.throttle.io_serviced_recursive"))
	st.Networks = netStats(rec.State.Pid)
	return st, nil
}

func (d *Daemon) memoryStats(id string) mobycontainer.MemoryStats {
	dir := d.cgroupDir("memory", id)
	m := mobycontainer.MemoryStats{
		Usage:    readInt(filepath.Join(dir, "memory.usage_in_bytes")),
		MaxUsage: readInt(filepath.Join(dir, "memory.max_usage_in_bytes")),
		Failcnt:  readInt(filepath.Join(dir, "memory.failcnt")),
		Limit:    readInt(filepath.Join(dir, "memory.limit_in_bytes")),
		Stats:    readKV(filepath.Join(dir, "memory.stat")),
	}
	// Without a limit the cgroup reports about 8 EiB; Docker shows the host's memory.
	if total := memTotal(); total > 0 && (m.Limit == 0 || m.Limit > total) {
		m.Limit = total
	}
	return m
}

const nsPerTick = 1e7 // USER_HZ is 100 on Linux

func readInt(path string) uint64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	return n
}

func readInts(path string) []uint64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []uint64
	for _, f := range strings.Fields(string(data)) {
		n, _ := strconv.ParseUint(f, 10, 64)
		out = append(out, n)
	}
	return out
}

// readKV reads "key value" lines (memory.stat, cpuacct.stat).
func readKV(path string) map[string]uint64 {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	out := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if n, err := strconv.ParseUint(v, 10, 64); ok && err == nil {
			out[k] = n
		}
	}
	return out
}

// blkio reads a cgroup v1 blkio file: "major:minor Op value" lines.
func blkio(path string) []mobycontainer.BlkioStatEntry {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []mobycontainer.BlkioStatEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 {
			continue
		}
		maj, min, _ := strings.Cut(fs[0], ":")
		e := mobycontainer.BlkioStatEntry{Op: fs[1]}
		e.Major, _ = strconv.ParseUint(maj, 10, 64)
		e.Minor, _ = strconv.ParseUint(min, 10, 64)
		e.Value, _ = strconv.ParseUint(fs[2], 10, 64)
		out = append(out, e)
	}
	return out
}

// netStats reads the interface counters of pid's network namespace.
func netStats(pid int) map[string]mobycontainer.NetworkStats {
	if pid <= 0 {
		return nil
	}
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "net", "dev"))
	if err != nil {
		return nil
	}
	defer f.Close()
	out := map[string]mobycontainer.NetworkStats{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		name = strings.TrimSpace(name)
		fs := strings.Fields(rest)
		if !ok || name == "lo" || len(fs) < 16 {
			continue
		}
		n := make([]uint64, 16)
		for i := range n {
			n[i], _ = strconv.ParseUint(fs[i], 10, 64)
		}
		out[name] = mobycontainer.NetworkStats{
			RxBytes: n[0], RxPackets: n[1], RxErrors: n[2], RxDropped: n[3],
			TxBytes: n[8], TxPackets: n[9], TxErrors: n[10], TxDropped: n[11],
		}
	}
	return out
}

// systemCPU returns the host's CPU time in nanoseconds and its CPU count, from /proc/stat.
func systemCPU() (uint64, uint32) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 1
	}
	var total uint64
	var cpus uint32
	for _, line := range strings.Split(string(data), "\n") {
		fs := strings.Fields(line)
		switch {
		case len(fs) > 1 && fs[0] == "cpu":
			for _, f := range fs[1:8] {
				n, _ := strconv.ParseUint(f, 10, 64)
				total += n
			}
		case len(fs) > 0 && strings.HasPrefix(fs[0], "cpu"):
			cpus++
		}
	}
	return total * nsPerTick, max(cpus, 1)
}

func memTotal() uint64 {
	kv, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(kv), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n * 1024
		}
	}
	return 0
}
