package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// engine is one daemon driven through the same docker CLI, switched by
// DOCKER_HOST.
type engine struct {
	name    string
	host    string // DOCKER_HOST
	daemons []int  // pids whose RSS is the daemon's (dockerd and its containerd)
	shim    string // argv[0] base name of the per-container shim
	root    string // a path in every shim's command line: tells our shims from others'
	port    int    // first host port this engine's published ports use
}

// Timeouts bound every CLI call, so that a hung daemon fails a step rather
// than the whole run: one for calls about one object, one for bulk calls.
const (
	cmdTimeout  = 45 * time.Second
	bulkTimeout = 3 * time.Minute
)

func (e *engine) cmd(args ...string) (string, error) {
	timeout := cmdTimeout
	if len(args) > 8 {
		timeout = bulkTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c := exec.CommandContext(ctx, "docker", args...)
	c.Env = append(os.Environ(), "DOCKER_HOST="+e.host)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	s := strings.TrimSpace(out.String())
	if err != nil {
		return s, &cmdError{engine: e.name, args: args, err: err, out: s}
	}
	return s, nil
}

// timed runs a CLI command and returns its wall-clock time.
func (e *engine) timed(args ...string) (time.Duration, string, error) {
	t := time.Now()
	out, err := e.cmd(args...)
	return time.Since(t), out, err
}

type cmdError struct {
	engine string
	args   []string
	err    error
	out    string
}

func (c *cmdError) Error() string {
	out := c.out
	if len(out) > 600 {
		out = out[:600] + "…"
	}
	return fmt.Sprintf("`docker %s` (%s): %v: %s", strings.Join(c.args, " "), c.engine, c.err, out)
}

// removeAll force-removes every container of the engine.
func (e *engine) removeAll() error {
	ids, err := e.cmd("ps", "-aq")
	if err != nil || ids == "" {
		return err
	}
	_, err = e.cmd(append([]string{"rm", "-f"}, strings.Fields(ids)...)...)
	return err
}

func (e *engine) removeIDs(ids []string) {
	if len(ids) > 0 {
		e.cmd(append([]string{"rm", "-f"}, ids...)...)
	}
}

func (e *engine) alive() bool {
	_, err := e.cmd("version", "--format", "{{.Server.Version}}")
	return err == nil
}

// rssKB reads VmRSS of a process, in kB.
func rssKB(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("pid %d: no VmRSS", pid)
}

// daemonRSS sums the RSS of the engine's daemon processes, in MB.
func (e *engine) daemonRSS() (float64, error) {
	var sum int64
	for _, pid := range e.daemons {
		kb, err := rssKB(pid)
		if err != nil {
			return 0, err
		}
		sum += kb
	}
	return float64(sum) / 1024, nil
}

// pssKB reads the proportional set size of a process, in kB: shared pages
// (a shim binary's text, for one) count split among their users.
func pssKB(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Pss:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("pid %d: no Pss", pid)
}

// shimMem sums the RSS and PSS of this engine's shims, in MB, and counts
// them.
func (e *engine) shimMem() (rss, pss float64, n int) {
	entries, _ := os.ReadDir("/proc")
	var sum, psum int64
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || len(raw) == 0 {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if filepath.Base(argv[0]) != e.shim || !strings.Contains(string(raw), e.root) {
			continue
		}
		if kb, err := rssKB(pid); err == nil {
			sum += kb
			n++
			if p, err := pssKB(pid); err == nil {
				psum += p
			}
		}
	}
	return float64(sum) / 1024, float64(psum) / 1024, n
}

// containerIP is the address on the default bridge.
func (e *engine) containerIP(id string) (string, error) {
	ip, err := e.cmd("inspect", "-f", "{{.NetworkSettings.IPAddress}}", id)
	if err == nil && ip == "" {
		err = fmt.Errorf("%s: container %s has no IP address on the default network", e.name, id)
	}
	return ip, err
}

// kv parses the last "k=v k=v" line of netkit's output.
func kv(out string) map[string]string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if !strings.Contains(lines[i], "=") {
			continue
		}
		m := map[string]string{}
		for _, f := range strings.Fields(lines[i]) {
			if k, v, ok := strings.Cut(f, "="); ok {
				m[k] = v
			}
		}
		return m
	}
	return nil
}

func kvFloat(out, key string) (float64, error) {
	v, ok := kv(out)[key]
	if !ok {
		return 0, fmt.Errorf("no %s= in %q", key, out)
	}
	return strconv.ParseFloat(v, 64)
}
