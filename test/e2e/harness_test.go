// Package e2e drives berth end to end through the real docker CLI, as its
// users do. Every daemon runs inside a network namespace of its own (a
// throwaway "host"), with its own data root, exec root, socket and cgroup
// parent; other machines are namespaces linked to that host. Everything a
// test makes is removed when it ends, even when it fails.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// env holds what TestMain built once for all tests.
var env struct {
	berth, shim, netkit string
	rootfsTar           string
	skip                string
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		env.skip = "end-to-end tests need root"
		return m.Run()
	}
	for _, tool := range []string{"docker", "runc", "nsenter", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			env.skip = tool + " not installed (make deps)"
			return m.Run()
		}
	}
	dir, err := os.MkdirTemp("", "berth-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := buildAll(dir); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		return 1
	}
	return m.Run()
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func buildAll(dir string) error {
	root := repoRoot()
	env.berth, env.shim, env.netkit = filepath.Join(dir, "berth"), filepath.Join(dir, "berth-shim"), filepath.Join(dir, "netkit")
	for out, pkg := range map[string]string{env.berth: "./cmd/berth", env.shim: "./cmd/berth-shim", env.netkit: "./test/tools/netkit"} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	env.rootfsTar = filepath.Join(dir, "busybox.tar")
	cmd := exec.Command("sh", "-c", "go run ./tools/mkbusybox -add /usr/local/bin/netkit="+env.netkit+" > "+env.rootfsTar)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mkbusybox: %v\n%s", err, b)
	}
	return nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// result is what a command printed and how it ended.
type result struct {
	Stdout, Stderr string
	Code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
}

func runCmd(ctx context.Context, stdin string, envv []string, name string, args ...string) result {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), envv...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{Stdout: out.String(), Stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else if err != nil {
		r.Code, r.Stderr = -1, r.Stderr+err.Error()
	}
	return r
}

// host is a throwaway machine: a network namespace with a berth daemon.
type host struct {
	t       *testing.T
	name    string // namespace name
	dir     string
	sock    string
	cgroup  string
	daemon  *exec.Cmd
	logPath string
	extra   []string // extra daemon flags
	links   int
}

// newHost makes a namespace and starts a daemon in it, with busybox:latest imported.
func newHost(t *testing.T, extraFlags ...string) *host {
	t.Helper()
	if env.skip != "" {
		t.Skip(env.skip)
	}
	id := randHex(3)
	h := &host{t: t, name: "bte-" + id, cgroup: "berth-e2e-" + id, extra: extraFlags}
	h.dir = t.TempDir()
	h.sock = filepath.Join(h.dir, "berth.sock")
	h.logPath = filepath.Join(h.dir, "daemon.log")
	if r := runCmd(context.Background(), "", nil, "ip", "netns", "add", h.name); r.Code != 0 {
		t.Fatalf("ip netns add %s: %v", h.name, r)
	}
	t.Cleanup(h.cleanup)
	h.sh("ip link set lo up")
	h.startDaemon()
	if r := h.dockerIn(readFile(t, env.rootfsTar), "import", "-", "busybox:latest"); r.Code != 0 {
		t.Fatalf("docker import busybox: %v", r)
	}
	return h
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// startDaemon runs `berth daemon` inside the host's network namespace
// (nsenter keeps the mount namespace, so mounts survive a daemon restart).
func (h *host) startDaemon() {
	h.t.Helper()
	logf, err := os.OpenFile(h.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		h.t.Fatal(err)
	}
	args := append([]string{"--net=/run/netns/" + h.name, env.berth, "daemon",
		"--data-root", filepath.Join(h.dir, "data"), "--exec-root", filepath.Join(h.dir, "exec"),
		"-H", "unix://" + h.sock, "--shim", env.shim, "--cgroup-parent", h.cgroup, "--log-level", "debug"}, h.extra...)
	cmd := exec.Command("nsenter", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		h.t.Fatalf("start daemon: %v", err)
	}
	logf.Close()
	h.daemon = cmd
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if r := h.docker("version", "--format", "{{.Server.Version}}"); r.Code == 0 {
			return
		}
		if cmd.ProcessState != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatalf("daemon did not come up; log:\n%s", readFile(h.t, h.logPath))
}

// stopDaemon ends the daemon with sig and waits for it.
func (h *host) stopDaemon(sig syscall.Signal) {
	h.t.Helper()
	if h.daemon == nil {
		return
	}
	h.daemon.Process.Signal(sig)
	done := make(chan struct{})
	go func() { h.daemon.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		h.daemon.Process.Kill()
		<-done
	}
	h.daemon = nil
}

func (h *host) cleanup() {
	if h.t.Failed() {
		if b, err := os.ReadFile(h.logPath); err == nil {
			lines := strings.Split(string(b), "\n")
			if len(lines) > 60 {
				lines = lines[len(lines)-60:]
			}
			h.t.Logf("daemon log (tail):\n%s", strings.Join(lines, "\n"))
		}
	}
	if h.daemon == nil {
		h.startDaemonQuiet()
	}
	if h.daemon != nil {
		if ids := strings.Fields(h.docker("ps", "-aq").Stdout); len(ids) > 0 {
			h.docker(append([]string{"rm", "-f"}, ids...)...)
		}
		for _, n := range strings.Fields(h.docker("network", "ls", "-q", "--filter", "type=custom").Stdout) {
			h.docker("network", "rm", n)
		}
		h.stopDaemon(syscall.SIGTERM)
	}
	// The namespace holds the bridges, veths and nftables tables: deleting it removes them.
	runCmd(context.Background(), "", nil, "ip", "netns", "del", h.name)
	for i := 0; i < h.links; i++ {
		runCmd(context.Background(), "", nil, "ip", "netns", "del", fmt.Sprintf("%s-m%d", h.name, i))
	}
	unmountUnder(h.dir)
	for _, c := range []string{"cpu,cpuacct", "memory", "pids", "devices", "freezer", "blkio", "net_cls,net_prio", "perf_event", "cpuset", "hugetlb", "systemd", "rdma", "misc"} {
		os.Remove(filepath.Join("/sys/fs/cgroup", c, h.cgroup))
	}
}

func (h *host) startDaemonQuiet() {
	defer func() { recover() }()
	if r := runCmd(context.Background(), "", nil, "ip", "netns", "pids", h.name); r.Code == 0 {
		h.startDaemon()
	}
}

// unmountUnder detaches any mount left below dir (a failed test's rootfs).
func unmountUnder(dir string) {
	data, _ := os.ReadFile("/proc/self/mounts")
	var targets []string
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) > 1 && strings.HasPrefix(f[1], dir) {
			targets = append(targets, f[1])
		}
	}
	for i := len(targets) - 1; i >= 0; i-- {
		syscall.Unmount(targets[i], syscall.MNT_DETACH)
	}
}

// docker runs the docker CLI against this host's daemon.
func (h *host) docker(args ...string) result { return h.dockerIn("", args...) }

func (h *host) dockerIn(stdin string, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return runCmd(ctx, stdin, []string{"DOCKER_HOST=unix://" + h.sock}, "docker", args...)
}

// berth runs berth's own CLI against this host's daemon.
func (h *host) berth(args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return runCmd(ctx, "", []string{"BERTH_HOST=unix://" + h.sock}, env.berth, args...)
}

// must runs docker and fails the test unless it exits 0; returns trimmed stdout.
func (h *host) must(args ...string) string {
	h.t.Helper()
	r := h.docker(args...)
	if r.Code != 0 {
		h.t.Fatalf("docker %s: %v", strings.Join(args, " "), r)
	}
	return strings.TrimSpace(r.Stdout)
}

// sh runs a shell command inside the host's network namespace.
func (h *host) sh(script string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return runCmd(ctx, "", nil, "nsenter", "--net=/run/netns/"+h.name, "sh", "-c", script)
}

// mustSh runs sh and fails the test on a non-zero exit.
func (h *host) mustSh(script string) string {
	h.t.Helper()
	r := h.sh(script)
	if r.Code != 0 {
		h.t.Fatalf("%s: %v", script, r)
	}
	return strings.TrimSpace(r.Stdout)
}

// machine is another computer on a link to the host.
type machine struct {
	h      *host
	name   string
	addr   string // the machine's address on the link
	hostIP string // the host's address on the link
}

// addMachine links a new namespace to the host with a veth pair on
// 10.<n>.<k>.0/24; the machine routes everything through the host.
func (h *host) addMachine(subnet string) *machine {
	h.t.Helper()
	idx := h.links
	h.links++
	m := &machine{h: h, name: fmt.Sprintf("%s-m%d", h.name, idx), addr: subnet + ".2", hostIP: subnet + ".1"}
	hv, mv := fmt.Sprintf("hv%d", idx), fmt.Sprintf("mv%d", idx)
	script := fmt.Sprintf(`set -e
ip netns add %[1]s
ip -n %[1]s link set lo up
ip link add %[2]s netns %[4]s type veth peer name %[3]s netns %[1]s
ip -n %[4]s addr add %[5]s/24 dev %[2]s
ip -n %[4]s link set %[2]s up
ip -n %[1]s addr add %[6]s/24 dev %[3]s
ip -n %[1]s link set %[3]s up
ip -n %[1]s route add default via %[5]s
`, m.name, hv, mv, h.name, m.hostIP, m.addr)
	if r := runCmd(context.Background(), "", nil, "sh", "-c", script); r.Code != 0 {
		h.t.Fatalf("add machine %s: %v", m.name, r)
	}
	return m
}

// sh runs a shell command on the machine.
func (m *machine) sh(script string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return runCmd(ctx, "", nil, "nsenter", "--net=/run/netns/"+m.name, "sh", "-c", script)
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}
