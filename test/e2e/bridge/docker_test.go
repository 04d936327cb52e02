package bridge

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-project/berth/test/e2e/harness"
)

// dockerEngine is a Docker Engine running in a test host's namespace, with
// its own data root, exec root, socket and containerd.
type dockerEngine struct {
	cmd  *exec.Cmd
	dir  string
	sock string
	done chan struct{}
}

// startDockerd starts dockerd inside h's namespace, or returns a reason to
// skip. It is stopped (and its containerd, by pid) when the test ends.
func startDockerd(t *testing.T, h *harness.Host) (*dockerEngine, string) {
	t.Helper()
	bin, err := exec.LookPath("dockerd")
	if err != nil {
		return nil, "dockerd is not installed (Debian's docker.io provides it)"
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		return nil, "iptables is not installed; dockerd needs it"
	}
	// Short paths: containerd's sockets live below the exec root.
	dir, err := os.MkdirTemp("", "bde-")
	if err != nil {
		t.Fatal(err)
	}
	d := &dockerEngine{dir: dir, sock: filepath.Join(dir, "docker.sock"), done: make(chan struct{})}
	cfg := filepath.Join(dir, "daemon.json")
	os.WriteFile(cfg, []byte("{}\n"), 0o644)
	logf, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command("nsenter", "--net=/run/netns/"+h.Name, bin,
		"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "x"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"), "-H", "unix://"+d.sock,
		"--config-file", cfg, "--iptables=true", "--ip-forward=true")
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		logf.Close()
		os.RemoveAll(dir)
		return nil, "dockerd does not start: " + err.Error()
	}
	logf.Close()
	go func() { d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() { d.stop(t) })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		r := harness.RunCmd(t.Context(), "", []string{"DOCKER_HOST=unix://" + d.sock}, "docker", "version", "--format", "{{.Server.Version}}")
		if r.Code == 0 {
			t.Logf("Docker Engine %s runs beside berth", strings.TrimSpace(r.Stdout))
			return d, ""
		}
		select {
		case <-d.done:
			return nil, "dockerd exited at start:\n" + tail(filepath.Join(dir, "dockerd.log"))
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil, "dockerd did not answer within 30s:\n" + tail(filepath.Join(dir, "dockerd.log"))
}

// stop ends dockerd with SIGTERM (it stops its containerd), then makes sure
// that containerd is gone, by the pid it recorded.
func (d *dockerEngine) stop(t *testing.T) {
	select {
	case <-d.done:
	default:
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(20 * time.Second):
			d.cmd.Process.Kill()
			<-d.done
		}
	}
	if b, err := os.ReadFile(filepath.Join(d.dir, "x", "containerd", "containerd.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			if exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); strings.Contains(exe, "containerd") {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	harness.UnmountUnder(d.dir)
	os.RemoveAll(d.dir)
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

// TestBesideDockerEngine runs berth on a host where Docker Engine already
// runs (docker0 on 172.17.0.0/16, FORWARD policy drop, br_netfilter on):
// berth takes another subnet, and its containers reach each other, the
// host and the outside, while outsiders still cannot reach them.
func TestBesideDockerEngine(t *testing.T) {
	var dockerd *dockerEngine
	var skip string
	h := harness.NewHostWith(t, func(h *harness.Host) {
		// As on a fresh machine: Docker turns forwarding on itself and
		// then sets the FORWARD policy to drop.
		h.MustSh("sysctl -qw net.ipv4.ip_forward=0")
		dockerd, skip = startDockerd(t, h)
	})
	if dockerd == nil {
		t.Skip(skip)
	}
	if out := h.MustSh("iptables -S FORWARD"); !strings.Contains(out, "-P FORWARD DROP") {
		t.Fatalf("Docker did not set the FORWARD policy to drop; the test would prove nothing:\n%s", out)
	}
	t.Logf("bridge-nf-call-iptables = %s", h.MustSh("cat /proc/sys/net/bridge/bridge-nf-call-iptables"))
	mustContain(t, "ip addr show docker0", h.MustSh("ip -o addr show docker0"), "172.17.0.1/16")
	subnet := h.Must("network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", "bridge")
	if subnet == "172.17.0.0/16" {
		t.Fatalf("berth's default bridge took Docker's 172.17.0.0/16")
	}

	inet := h.AddMachine("10.77.1")
	srv := inet.Spawn(harness.Env.Netkit, "echo", "-l", ":7000", "-banner")
	srv.WaitOutput(t, "listening on", 5*time.Second)
	h.Must("run", "-d", "--name", "app", "-p", "7003:7001", "busybox", "netkit", "echo", "-l", ":7001", "-banner")
	waitListening(h, "app")
	runSleeper(h, "peer")
	app, peer := ipOf(h, "app"), ipOf(h, "peer")

	if r := dialFrom(h, "app", inet.Addr+":7000"); bannerSource(r.Stdout) != inet.HostIP {
		t.Fatalf("with Docker running, app reaches the internet machine: %v\n%s", r, h.MustSh("iptables -S"))
	}
	if r := h.Docker("exec", "peer", "ping", "-c", "1", "-W", "2", app); r.Code != 0 {
		t.Fatalf("with Docker running, peer pings app: %v", r)
	}
	if r := dialFrom(h, "peer", app+":7001"); bannerSource(r.Stdout) != peer {
		t.Fatalf("with Docker running, peer connects to app: %v", r)
	}
	if r := h.Sh("ping -c 1 -W 2 " + app); r.Code != 0 {
		t.Fatalf("with Docker running, the host pings app: %v", r)
	}
	if r := inet.Sh(harness.Env.Netkit + " dial -t 2s " + inet.HostIP + ":7003"); bannerSource(r.Stdout) != inet.Addr {
		t.Fatalf("with Docker running, the published port 7003: %v", r)
	}
	nb := h.AddMachine("10.77.2")
	nb.Sh("ip route add " + subnet + " via " + nb.HostIP)
	if r := nb.Sh(harness.Env.Netkit + " dial -t 1s " + app + ":7001"); r.Code == 0 {
		t.Fatalf("with Docker running, a neighbour reaches app's address: %v", r)
	}
	mustContain(t, "iptables -S DOCKER-USER", h.MustSh("iptables -S DOCKER-USER"), "berth0")

	// Docker's own containers are not berth's business, but Docker must
	// still work: its network answers.
	r := harness.RunCmd(t.Context(), "", []string{"DOCKER_HOST=unix://" + dockerd.sock}, "docker", "network", "ls")
	mustContain(t, "docker network ls (Docker Engine)", r.Stdout, "bridge")
}

// TestDockerEngineStartsLater starts Docker Engine while berth already
// runs containers. Docker finds forwarding on (berth turned it on), so it
// leaves the FORWARD policy alone, but it still turns on br_netfilter's
// bridge-nf-call-iptables: berth's traffic must keep flowing.
func TestDockerEngineStartsLater(t *testing.T) {
	h := harness.NewHostWith(t, func(h *harness.Host) { h.MustSh("sysctl -qw net.ipv4.ip_forward=0") })
	inet := h.AddMachine("10.77.1")
	srv := inet.Spawn(harness.Env.Netkit, "echo", "-l", ":7000", "-banner")
	srv.WaitOutput(t, "listening on", 5*time.Second)
	h.Must("run", "-d", "--name", "app", "busybox", "netkit", "echo", "-l", ":7001", "-banner")
	waitListening(h, "app")
	if r := dialFrom(h, "app", inet.Addr+":7000"); bannerSource(r.Stdout) != inet.HostIP {
		t.Fatalf("before Docker starts, app reaches the internet machine: %v", r)
	}
	dockerd, skip := startDockerd(t, h)
	if dockerd == nil {
		t.Skip(skip)
	}
	t.Logf("with berth first, Docker's FORWARD chain starts with %q", strings.SplitN(h.MustSh("iptables -S FORWARD"), "\n", 2)[0])
	var r harness.Result
	harness.WaitFor(t, "app to reach the internet machine with Docker running", 5*time.Second, func() bool {
		r = dialFrom(h, "app", inet.Addr+":7000")
		return bannerSource(r.Stdout) == inet.HostIP
	})
	runSleeper(h, "peer")
	if r := dialFrom(h, "peer", ipOf(h, "app")+":7001"); r.Code != 0 {
		t.Fatalf("with Docker running, peer connects to app: %v", r)
	}
}
