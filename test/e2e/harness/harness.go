// Package harness is the end-to-end test bed: it drives berth through the
// real docker CLI, as its users do. Every daemon runs inside a network namespace of its own (a
// throwaway "host"), with its own data root, exec root, socket and cgroup
// parent; other machines are namespaces linked to that host. Everything a
// test makes is removed when it ends, even when it fails.
package harness

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Env holds what Main built once for all tests: the binaries and the
// busybox rootfs tarball (with netkit in /usr/local/bin).
var Env struct {
	Berth, Shim, Netkit string
	RootfsTar           string
	skip                string
}

// Main builds berth, its shim and the test tools once, then runs the tests.
// A test package calls it from TestMain: os.Exit(harness.Main(m)).
func Main(m *testing.M) int {
	if os.Geteuid() != 0 {
		Env.skip = "end-to-end tests need root"
		return m.Run()
	}
	for _, tool := range []string{"docker", "runc", "nsenter", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			Env.skip = tool + " not installed (make deps)"
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
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

func buildAll(dir string) error {
	root := repoRoot()
	Env.Berth, Env.Shim, Env.Netkit = filepath.Join(dir, "berth"), filepath.Join(dir, "berth-shim"), filepath.Join(dir, "netkit")
	for out, pkg := range map[string]string{Env.Berth: "./cmd/berth", Env.Shim: "./cmd/berth-shim", Env.Netkit: "./test/tools/netkit"} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	Env.RootfsTar = filepath.Join(dir, "busybox.tar")
	cmd := exec.Command("sh", "-c", "go run ./tools/mkbusybox -add /usr/local/bin/netkit="+Env.Netkit+" > "+Env.RootfsTar)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mkbusybox: %v\n%s", err, b)
	}
	return nil
}

func RandHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// result is what a command printed and how it ended.
type Result struct {
	Stdout, Stderr string
	Code           int
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
}

func RunCmd(ctx context.Context, stdin string, envv []string, name string, args ...string) Result {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), envv...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else if err != nil {
		r.Code, r.Stderr = -1, r.Stderr+err.Error()
	}
	return r
}

// host is a throwaway machine: a network namespace with a berth daemon.
type Host struct {
	t       *testing.T
	Name    string // namespace name
	dir     string
	Sock    string // the API socket
	cgroup  string
	daemon  *exec.Cmd
	logPath string
	extra   []string // extra daemon flags
	links   int
}

// NewHost makes a namespace and starts a daemon in it, with busybox:latest imported.
func NewHost(t *testing.T, extraFlags ...string) *Host {
	t.Helper()
	return NewHostWith(t, nil, extraFlags...)
}

func ReadFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// startDaemon runs `berth daemon` inside the host's network namespace
// (nsenter keeps the mount namespace, so mounts survive a daemon restart).
func (h *Host) StartDaemon() {
	h.t.Helper()
	logf, err := os.OpenFile(h.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		h.t.Fatal(err)
	}
	args := append([]string{"--net=/run/netns/" + h.Name, Env.Berth, "daemon",
		"--data-root", filepath.Join(h.dir, "data"), "--exec-root", filepath.Join(h.dir, "exec"),
		"-H", "unix://" + h.Sock, "--shim", Env.Shim, "--cgroup-parent", h.cgroup, "--log-level", "debug"}, h.extra...)
	cmd := exec.Command("nsenter", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		h.t.Fatalf("start daemon: %v", err)
	}
	logf.Close()
	h.daemon = cmd
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if r := h.Docker("version", "--format", "{{.Server.Version}}"); r.Code == 0 {
			return
		}
		if cmd.ProcessState != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatalf("daemon did not come up; log:\n%s", ReadFile(h.t, h.logPath))
}

// stopDaemon ends the daemon with sig and waits for it.
func (h *Host) StopDaemon(sig syscall.Signal) {
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

func (h *Host) cleanup() {
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
		if ids := strings.Fields(h.Docker("ps", "-aq").Stdout); len(ids) > 0 {
			h.Docker(append([]string{"rm", "-f"}, ids...)...)
		}
		for _, n := range strings.Fields(h.Docker("network", "ls", "-q", "--filter", "type=custom").Stdout) {
			h.Docker("network", "rm", n)
		}
		h.StopDaemon(syscall.SIGTERM)
	}
	// The namespace holds the bridges, veths and nftables tables: deleting it removes them.
	RunCmd(context.Background(), "", nil, "ip", "netns", "del", h.Name)
	for i := 0; i < h.links; i++ {
		RunCmd(context.Background(), "", nil, "ip", "netns", "del", fmt.Sprintf("%s-m%d", h.Name, i))
	}
	UnmountUnder(h.dir)
	for _, c := range []string{"cpu,cpuacct", "memory", "pids", "devices", "freezer", "blkio", "net_cls,net_prio", "perf_event", "cpuset", "hugetlb", "systemd", "rdma", "misc"} {
		os.Remove(filepath.Join("/sys/fs/cgroup", c, h.cgroup))
	}
}

func (h *Host) startDaemonQuiet() {
	defer func() { recover() }()
	if r := RunCmd(context.Background(), "", nil, "ip", "netns", "pids", h.Name); r.Code == 0 {
		h.StartDaemon()
	}
}

// unmountUnder detaches any mount left below dir (a failed test's rootfs).
func UnmountUnder(dir string) {
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
func (h *Host) Docker(args ...string) Result { return h.DockerIn("", args...) }

func (h *Host) DockerIn(stdin string, args ...string) Result {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return RunCmd(ctx, stdin, []string{"DOCKER_HOST=unix://" + h.Sock}, "docker", args...)
}

// berth runs berth's own CLI against this host's daemon.
func (h *Host) Berth(args ...string) Result {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return RunCmd(ctx, "", []string{"BERTH_HOST=unix://" + h.Sock}, Env.Berth, args...)
}

// must runs docker and fails the test unless it exits 0; returns trimmed stdout.
func (h *Host) Must(args ...string) string {
	h.t.Helper()
	r := h.Docker(args...)
	if r.Code != 0 {
		h.t.Fatalf("docker %s: %v", strings.Join(args, " "), r)
	}
	return strings.TrimSpace(r.Stdout)
}

// sh runs a shell command inside the host's network namespace.
func (h *Host) Sh(script string) Result {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return RunCmd(ctx, "", nil, "nsenter", "--net=/run/netns/"+h.Name, "sh", "-c", script)
}

// mustSh runs sh and fails the test on a non-zero exit.
func (h *Host) MustSh(script string) string {
	h.t.Helper()
	r := h.Sh(script)
	if r.Code != 0 {
		h.t.Fatalf("%s: %v", script, r)
	}
	return strings.TrimSpace(r.Stdout)
}

// machine is another computer on a link to the host.
type Machine struct {
	h      *Host
	Name   string // namespace name
	Addr   string // the machine's address on the link
	HostIP string // the host's address on the link
}

// addMachine links a new namespace to the host with a veth pair on
// 10.<n>.<k>.0/24; the machine routes everything through the host.
func (h *Host) AddMachine(subnet string) *Machine {
	h.t.Helper()
	idx := h.links
	h.links++
	m := &Machine{h: h, Name: fmt.Sprintf("%s-m%d", h.Name, idx), Addr: subnet + ".2", HostIP: subnet + ".1"}
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
`, m.Name, hv, mv, h.Name, m.HostIP, m.Addr)
	if r := RunCmd(context.Background(), "", nil, "sh", "-c", script); r.Code != 0 {
		h.t.Fatalf("add machine %s: %v", m.Name, r)
	}
	return m
}

// sh runs a shell command on the machine.
func (m *Machine) Sh(script string) Result {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return RunCmd(ctx, "", nil, "nsenter", "--net=/run/netns/"+m.Name, "sh", "-c", script)
}

// waitFor polls cond until it holds or the timeout passes.
func WaitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
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

// T returns the test the host belongs to.
func (h *Host) T() *testing.T { return h.t }

// Dir is a scratch directory of the host's that is removed with it.
func (h *Host) Dir() string { return h.dir }

// NewHostWith is NewHost with setup run inside the fresh namespace before
// the daemon first starts (e.g. to add an address the default pool must
// skip). setup may call h.Sh and h.MustSh.
func NewHostWith(t *testing.T, setup func(h *Host), extraFlags ...string) *Host {
	t.Helper()
	if Env.skip != "" {
		t.Skip(Env.skip)
	}
	id := RandHex(3)
	h := &Host{t: t, Name: "bte-" + id, cgroup: "berth-e2e-" + id, extra: extraFlags}
	h.dir = t.TempDir()
	h.Sock = filepath.Join(h.dir, "berth.sock")
	h.logPath = filepath.Join(h.dir, "daemon.log")
	if r := RunCmd(context.Background(), "", nil, "ip", "netns", "add", h.Name); r.Code != 0 {
		t.Fatalf("ip netns add %s: %v", h.Name, r)
	}
	t.Cleanup(h.cleanup)
	h.Sh("ip link set lo up")
	if setup != nil {
		setup(h)
	}
	h.StartDaemon()
	if r := h.DockerIn(ReadFile(t, Env.RootfsTar), "import", "-", "busybox:latest"); r.Code != 0 {
		t.Fatalf("docker import busybox: %v", r)
	}
	return h
}

// DaemonLog returns what the daemon has logged so far.
func (h *Host) DaemonLog() string {
	b, _ := os.ReadFile(h.logPath)
	return string(b)
}

// Proc is a program running in the background on a host or machine; it is
// stopped (by its pid) when the test ends.
type Proc struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

// lockedBuffer is a bytes.Buffer safe for concurrent use; a one-slot
// channel is its lock.
type lockedBuffer struct {
	mu chan struct{}
	b  bytes.Buffer
}

func newLockedBuffer() *lockedBuffer { return &lockedBuffer{mu: make(chan struct{}, 1)} }

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu <- struct{}{}
	defer func() { <-l.mu }()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu <- struct{}{}
	defer func() { <-l.mu }()
	return l.b.String()
}

// Spawn starts args in the host's network namespace in the background.
func (h *Host) Spawn(args ...string) *Proc { return spawnIn(h.t, h.Name, args) }

// Spawn starts args on the machine in the background.
func (m *Machine) Spawn(args ...string) *Proc { return spawnIn(m.h.t, m.Name, args) }

func spawnIn(t *testing.T, ns string, args []string) *Proc {
	t.Helper()
	p := &Proc{out: newLockedBuffer(), done: make(chan struct{})}
	p.cmd = exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %v in %s: %v", args, ns, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.Stop)
	return p
}

// Output returns what the program has printed so far (stdout and stderr).
func (p *Proc) Output() string { return p.out.String() }

// Pid is the program's process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Stop kills the program and waits for it; calling it again is harmless.
func (p *Proc) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Kill()
	<-p.done
}

// WaitOutput waits until the program has printed want.
func (p *Proc) WaitOutput(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	WaitFor(t, fmt.Sprintf("output %q (have %q)", want, p.Output()), timeout, func() bool {
		return strings.Contains(p.Output(), want)
	})
}

// SetDaemonFlags replaces the extra daemon flags used by the next StartDaemon.
func (h *Host) SetDaemonFlags(flags ...string) { h.extra = flags }

// DaemonPid returns the pid of the running berth daemon (0 when stopped).
func (h *Host) DaemonPid() int {
	if h.daemon == nil || h.daemon.Process == nil {
		return 0
	}
	return h.daemon.Process.Pid
}

// API sends one Engine API request to the host's socket, for what the
// docker CLI does not show (status codes, raw bodies). A string body is
// sent as is; any other non-nil body is sent as JSON.
func (h *Host) API(method, path string, body any) (int, string) {
	h.t.Helper()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", h.Sock)
		},
	}}
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, "http://berth"+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}
