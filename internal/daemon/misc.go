package daemon

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
	mobycontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
)

// Rename changes a container's name; its DNS names follow at once.
func (d *Daemon) Rename(ref, newName string) error {
	if !validName.MatchString(newName) {
		return errdefs.Invalidf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", newName)
	}
	newName = strings.TrimPrefix(newName, "/")
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	d.mu.Lock()
	if other, ok := d.names[newName]; ok {
		d.mu.Unlock()
		return errdefs.Conflictf("Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", newName, other)
	}
	c.mu.Lock()
	old := c.rec.Name
	delete(d.names, old)
	d.names[newName] = c.rec.ID
	c.rec.Name = newName
	d.mu.Unlock()
	d.save(c)
	c.mu.Unlock()
	d.net.Renamed(c.rec.ID, newName)
	d.emitContainer(c, events.ActionRename, map[string]string{"oldName": "/" + old})
	return nil
}

// Top lists the processes of a running container (from its cgroup).
func (d *Daemon) Top(ref, psArgs string) (mobycontainer.TopResponse, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return mobycontainer.TopResponse{}, err
	}
	rec, _, _, _ := c.snapshot()
	if rec.State.Status != container.Running {
		return mobycontainer.TopResponse{}, errdefs.Conflictf("container %s is not running", rec.ID)
	}
	pids := d.cgroupPids(rec.ID)
	out := mobycontainer.TopResponse{Titles: []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}}
	for _, pid := range pids {
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		ppid := ""
		if len(fields) > 1 {
			ppid = fields[1]
		}
		cmd := strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))
		out.Processes = append(out.Processes, []string{"root", strconv.Itoa(pid), ppid, "0", "-", "?", "00:00:00", cmd})
	}
	return out, nil
}

func (d *Daemon) cgroupDir(controller, id string) string {
	parent := d.cfg.CgroupParent
	if parent == "" {
		parent = "berth"
	}
	return filepath.Join("/sys/fs/cgroup", controller, parent, id)
}

func (d *Daemon) cgroupPids(id string) []int {
	f, err := os.Open(filepath.Join(d.cgroupDir("pids", id), "cgroup.procs"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var pids []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if n, err := strconv.Atoi(sc.Text()); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

func readInt(path string) uint64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	return n
}

// ContainerStats reads CPU and memory use from the container's cgroups (v1).
func (d *Daemon) ContainerStats(ref string) (mobycontainer.StatsResponse, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return mobycontainer.StatsResponse{}, err
	}
	rec, _, _, _ := c.snapshot()
	st := mobycontainer.StatsResponse{Name: "/" + rec.Name, ID: rec.ID, Read: time.Now()}
	if rec.State.Status != container.Running {
		return st, nil
	}
	st.CPUStats.CPUUsage.TotalUsage = readInt(filepath.Join(d.cgroupDir("cpuacct", rec.ID), "cpuacct.usage"))
	st.CPUStats.SystemUsage = systemCPU()
	st.CPUStats.OnlineCPUs = uint32(numCPU())
	st.MemoryStats.Usage = readInt(filepath.Join(d.cgroupDir("memory", rec.ID), "memory.usage_in_bytes"))
	st.MemoryStats.Limit = readInt(filepath.Join(d.cgroupDir("memory", rec.ID), "memory.limit_in_bytes"))
	st.PidsStats.Current = uint64(len(d.cgroupPids(rec.ID)))
	return st, nil
}

func systemCPU() uint64 {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	var total uint64
	for _, f := range strings.Fields(line)[1:] {
		n, _ := strconv.ParseUint(f, 10, 64)
		total += n
	}
	return total * 1e7 // clock ticks (100 Hz) to nanoseconds
}

func numCPU() int {
	data, _ := os.ReadFile("/proc/cpuinfo")
	return max(1, strings.Count(string(data), "processor\t:"))
}
