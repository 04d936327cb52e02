package daemon

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

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

// Top lists the processes of a running container the way Docker does: it
// runs the host's ps with the user's arguments (default -ef) and keeps the
// lines whose PID is in the container's cgroup. Without ps it reads /proc.
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
	if psArgs == "" {
		psArgs = "-ef"
	}
	if _, err := exec.LookPath("ps"); err != nil {
		return topFromProc(pids), nil
	}
	out, err := exec.Command("ps", strings.Fields(psArgs)...).Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		return mobycontainer.TopResponse{}, errdefs.Invalidf("Error running ps: %s", msg)
	}
	return parsePS(string(out), pids)
}

// parsePS keeps the ps lines of pids; thread lines ("-" as PID) follow
// their process; the last column (the command) may contain spaces.
func parsePS(out string, pids []int) (mobycontainer.TopResponse, error) {
	lines := strings.Split(out, "\n")
	top := mobycontainer.TopResponse{Titles: strings.Fields(lines[0])}
	pidCol := slices.Index(top.Titles, "PID")
	if pidCol < 0 {
		return top, errdefs.Invalidf("Couldn't find PID field in ps output")
	}
	keep := false
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) <= pidCol {
			continue
		}
		if f[pidCol] != "-" {
			pid, err := strconv.Atoi(f[pidCol])
			if err != nil {
				return top, fmt.Errorf("unexpected pid %q in ps output", f[pidCol])
			}
			keep = slices.Contains(pids, pid)
		}
		if keep && len(f) >= len(top.Titles) {
			n := len(top.Titles) - 1
			top.Processes = append(top.Processes, append(f[:n:n], strings.Join(f[n:], " ")))
		}
	}
	return top, nil
}

func topFromProc(pids []int) mobycontainer.TopResponse {
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
	return out
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
