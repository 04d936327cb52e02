package walkthrough

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/test/e2e/harness"
	"github.com/creack/pty"
)

// TestSeedWalkthrough follows the study note in ../shared/seed command for
// command: busybox boxes on the default bridge, a look inside, inspect, a
// web page fetched from the host, the bridge and its ports, the way out
// through NAT, a second machine that cannot reach containers, a
// user-defined network, and redis- and mysql-like servers published on the
// host and reached from the second machine through the host's address.
func TestSeedWalkthrough(t *testing.T) {
	h := harness.NewHost(t)
	internet := h.AddMachine("10.77.1")
	vm2 := h.AddMachine("10.77.2")

	// docker container run -d --rm --name box1 busybox /bin/sh -c "while true; do sleep 360; done"
	t.Logf("%s: docker container run -d --rm --name box1 busybox /bin/sh -c \"while true; do sleep 360; done\"", time.Now().Format("15:04:05.000"))
	for _, name := range []string{"box1", "box2"} {
		h.Must("container", "run", "-d", "--rm", "--name", name, "busybox", "/bin/sh", "-c", "while true; do sleep 360; done")
	}

	ip1 := h.Must("container", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", "box1")

	// docker container inspect box1: Docker-shaped JSON with the address.
	t.Logf("%s: docker container inspect box1: Docker-shaped JSON with the address.", time.Now().Format("15:04:05.000"))
	var info []struct {
		NetworkSettings struct {
			IPAddress string
			Gateway   string
			Networks  map[string]struct{ IPAddress, MacAddress string }
		}
	}
	if err := json.Unmarshal([]byte(h.Must("container", "inspect", "box1")), &info); err != nil {
		t.Fatal(err)
	}
	ns := info[0].NetworkSettings
	if ns.IPAddress != ip1 || ns.Networks["bridge"].IPAddress != ip1 || !strings.HasPrefix(ns.Networks["bridge"].MacAddress, "02:42:") {
		t.Fatalf("inspect box1 NetworkSettings = %+v", ns)
	}

	// Containers on one host reach each other; the host reaches them.
	t.Logf("%s: Containers on one host reach each other; the host reaches them.", time.Now().Format("15:04:05.000"))
	ip2 := h.Must("container", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", "box2")
	h.Must("exec", "box1", "ping", "-c", "1", "-W", "2", ip2)
	h.MustSh("ping -c 1 -W 2 " + ip2)

	// A web server on port 80; the host fetches its page with curl and wget.
	t.Logf("%s: A web server on port 80; the host fetches its page with curl and wget.", time.Now().Format("15:04:05.000"))
	h.Must("run", "-d", "--name", "web", "busybox", "sh", "-c",
		"mkdir -p /www && echo '<h1>Welcome to berth</h1>' > /www/index.html && exec httpd -f -p 80 -h /www")
	webIP := h.Must("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web")
	harness.WaitFor(t, "httpd to listen", 5*time.Second, func() bool {
		return h.Sh("wget -q -T 1 -O - http://"+webIP+":80/").Code == 0
	})
	for _, fetch := range []string{"curl -s --max-time 3 http://" + webIP + ":80", "wget -q -T 3 -O - http://" + webIP + ":80"} {
		if out := h.MustSh(fetch); !strings.Contains(out, "Welcome to berth") {
			t.Fatalf("%s = %q", fetch, out)
		}
	}

	// docker network ls; docker network inspect bridge.
	t.Logf("%s: docker network ls; docker network inspect bridge.", time.Now().Format("15:04:05.000"))
	ls := h.Must("network", "ls")
	for _, n := range []string{"bridge", "host", "none"} {
		if !regexp.MustCompile(`\s` + n + `\s`).MatchString(ls) {
			t.Fatalf("network ls lacks %s:\n%s", n, ls)
		}
	}
	bridge := h.Must("network", "inspect", "bridge")
	for _, want := range []string{`"box1"`, `"box2"`, ip1 + "/", ip2 + "/", `"com.docker.network.bridge.name": "berth0"`} {
		if !strings.Contains(bridge, want) {
			t.Fatalf("network inspect bridge lacks %s:\n%s", want, bridge)
		}
	}

	// brctl show: the bridge and its veth "ports", one per container.
	t.Logf("%s: brctl show: the bridge and its veth \"ports\", one per container.", time.Now().Format("15:04:05.000"))
	brctl := h.MustSh("brctl show berth0")
	if n := len(regexp.MustCompile(`\bb-[0-9a-f]{8}-[0-9]+\b`).FindAllString(brctl, -1)); n != 3 {
		t.Fatalf("brctl show berth0 lists %d container ports, want 3:\n%s", n, brctl)
	}

	// The way out: a server on the "internet" sees the host's address (NAT).
	t.Logf("%s: The way out: a server on the \"internet\" sees the host's address (NAT).", time.Now().Format("15:04:05.000"))
	startServer(t, internet, "7000")
	out := h.Must("exec", "box1", "netkit", "dial", "-t", "3s", "-send", "hello\n", internet.Addr+":7000")
	if !strings.Contains(out, "from "+internet.HostIP+":") {
		t.Fatalf("the internet server saw %q, want the host's address %s (masquerade)", out, internet.HostIP)
	}

	// VM2 cannot reach a container's address, even with a route to it.
	t.Logf("%s: VM2 cannot reach a container's address, even with a route to it.", time.Now().Format("15:04:05.000"))
	subnet := h.Must("network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", "bridge")
	vm2.Sh("ip route add " + subnet + " via " + vm2.HostIP)
	if r := vm2.Sh("ping -c 1 -W 1 " + ip1); r.Code == 0 {
		t.Fatalf("a second machine pinged container %s: %v", ip1, r)
	}
	if r := vm2.Sh("curl -s --max-time 2 http://" + webIP + ":80/"); r.Code == 0 {
		t.Fatalf("a second machine fetched from container %s directly: %v", webIP, r)
	}

	// A user-defined network: names resolve there.
	t.Logf("%s: A user-defined network: names resolve there.", time.Now().Format("15:04:05.000"))
	h.Must("network", "create", "mynet")
	h.Must("run", "-d", "--name", "c1", "--network", "mynet", "busybox", "sleep", "600")
	h.Must("run", "-d", "--name", "c2", "--network", "mynet", "busybox", "sleep", "600")
	h.Must("exec", "c1", "ping", "-c", "1", "-W", "2", "c2")

	// redis on 6379 and mysql on 3306, published; the second machine connects
	t.Logf("%s: redis on 6379 and mysql on 3306, published; the second machine connects", time.Now().Format("15:04:05.000"))
	// through the host's address.
	h.Must("run", "-d", "--name", "redis", "-p", "6379:6379", "busybox", "netkit", "echo", "-l", ":6379", "-banner")
	h.Must("run", "-d", "--name", "mysql", "-p", "3306:3306", "busybox", "netkit", "echo", "-l", ":3306", "-banner")
	for _, port := range []string{"6379", "3306"} {
		var r harness.Result
		harness.WaitFor(t, "port "+port+" from the second machine", 5*time.Second, func() bool {
			r = vm2.Sh(harness.Env.Netkit + " dial -t 1s -send 'PING\n' " + vm2.HostIP + ":" + port)
			return r.Code == 0
		})
		if !strings.Contains(r.Stdout, "from "+vm2.Addr+":") {
			t.Fatalf("server on %s saw %q, want the client's own address %s", port, r.Stdout, vm2.Addr)
		}
	}
	if r := vm2.Sh(harness.Env.Netkit + " dial -t 1s -lines 2 -send 'PING\n' " + vm2.HostIP + ":6379"); !strings.Contains(r.Stdout, "+PONG") {
		t.Fatalf("redis-like PING from the second machine: %v", r)
	}

	// docker container exec -it box1 sh, then `ip a` inside.
	t.Logf("%s: docker container exec -it box1 sh, then `ip a` inside.", time.Now().Format("15:04:05.000"))
	inside := interactive(t, h, "ip a\nexit\n", "container", "exec", "-it", "box1", "sh")
	if !strings.Contains(inside, "eth0") || !strings.Contains(inside, "inet "+ip1+"/") {
		t.Fatalf("`ip a` inside box1 does not show eth0 with %s:\n%s", ip1, inside)
	}
}

// startServer runs netkit's echo server (with the banner that names the
// client's address) on machine m until the test ends.
func startServer(t *testing.T, m *harness.Machine, port string) {
	t.Helper()
	cmd := exec.Command("nsenter", "--net=/run/netns/"+m.Name, harness.Env.Netkit, "echo", "-l", ":"+port, "-banner")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	harness.WaitFor(t, "server on "+m.Name, 5*time.Second, func() bool {
		return m.Sh(harness.Env.Netkit+" dial -t 1s 127.0.0.1:"+port).Code == 0
	})
}

// interactive runs the docker CLI on a pty, types input, and returns what
// the terminal showed.
func interactive(t *testing.T, h *harness.Host, input string, args ...string) string {
	t.Helper()
	cmd := exec.Command("docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+h.Sock, "TERM=dumb")
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&out, f); close(done) }()
	time.Sleep(500 * time.Millisecond)
	for _, line := range strings.SplitAfter(input, "\n") {
		f.Write([]byte(line))
		time.Sleep(300 * time.Millisecond)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case <-waitErr:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("docker %s did not end; terminal showed:\n%s", strings.Join(args, " "), out.String())
	}
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	return out.String()
}

func lookPath(name string) (string, error) { return exec.LookPath(name) }
