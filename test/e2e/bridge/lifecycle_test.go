package bridge

import (
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-project/berth/test/e2e/harness"
)

// TestFlagsAndTeardown runs a daemon with --bridge and a small --bip and
// checks that removing a container gives back its port on the bridge, its
// address and its firewall elements.
func TestFlagsAndTeardown(t *testing.T) {
	h := harness.NewHost(t, "--bridge", "mybr0", "--bip", "10.200.0.1/29")
	subnet := h.Must("network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}} {{(index .IPAM.Config 0).Gateway}} {{index .Options \"com.docker.network.bridge.name\"}}", "bridge")
	if subnet != "10.200.0.0/29 10.200.0.1 mybr0" {
		t.Fatalf("with --bridge mybr0 --bip 10.200.0.1/29, network inspect bridge shows %q", subnet)
	}
	mustContain(t, "ip addr show mybr0", h.MustSh("ip -o addr show mybr0"), "10.200.0.1/29")
	if r := h.Sh("ip link show berth0"); r.Code == 0 {
		t.Fatalf("berth0 exists although --bridge mybr0 was given")
	}

	// A /29 holds five containers besides the gateway.
	var names []string
	ips := map[string]string{}
	for i := range 5 {
		n := "c" + itoa(i)
		runSleeper(h, n)
		names = append(names, n)
		ips[n] = ipOf(h, n)
		if !netip.MustParsePrefix("10.200.0.0/29").Contains(netip.MustParseAddr(ips[n])) {
			t.Fatalf("%s got %s outside --bip's subnet", n, ips[n])
		}
	}
	if r := h.Docker("run", "-d", "--name", "toomany", "busybox", "sleep", "60"); r.Code == 0 {
		t.Fatalf("a sixth container on a /29 started: %v", r)
	}
	if n := len(bridgePorts(h, "mybr0")); n != 5 {
		t.Fatalf("mybr0 has %d ports after a failed start, want 5", n)
	}
	h.Docker("rm", "-f", "toomany")

	gone := "c2"
	goneIf, goneIP := hostIfOf(h, gone), ips[gone]
	h.Must("rm", "-f", gone)
	if ports := bridgePorts(h, "mybr0"); contains(ports, goneIf) || len(ports) != 4 {
		t.Fatalf("after docker rm -f %s, mybr0 ports = %v (its %s must be gone)", gone, ports, goneIf)
	}
	if r := h.Sh("ip link show " + goneIf); r.Code == 0 {
		t.Fatalf("veth %s still exists after docker rm -f: %v", goneIf, r)
	}
	mustNotContain(t, "nft list table inet berth after rm -f", nftTable(h), goneIP+" ", goneIP+":", goneIP+"\n")
	runSleeper(h, "again")
	if got := ipOf(h, "again"); got != goneIP {
		t.Fatalf("the only free address is %s, the new container got %s", goneIP, got)
	}

	// Stopping releases the network too, and starting again works.
	h.Must("stop", "-t", "1", "c0")
	if n := len(bridgePorts(h, "mybr0")); n != 4 {
		t.Fatalf("after docker stop c0, mybr0 has %d ports, want 4", n)
	}
	if ip := h.Must("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "c0"); ip != "" {
		t.Fatalf("stopped c0 still shows address %q", ip)
	}
	h.Must("start", "c0")
	if ip := ipOf(h, "c0"); ip != ips["c0"] {
		t.Logf("c0 restarted with %s (was %s)", ip, ips["c0"])
	}
	if r := h.Sh("ping -c 1 -W 2 " + ipOf(h, "c0")); r.Code != 0 {
		t.Fatalf("host pings restarted c0: %v", r)
	}

	for _, n := range append(names, "again") {
		h.Docker("rm", "-f", n)
	}
	if ports := bridgePorts(h, "mybr0"); len(ports) != 0 {
		t.Fatalf("after removing every container, mybr0 still has ports %v", ports)
	}
	if out := h.MustSh("ip -o link show type veth"); strings.TrimSpace(out) != "" {
		t.Fatalf("veths left in the host namespace:\n%s", out)
	}
}

// TestDaemonCrash kills the daemon with SIGKILL with a container running
// and one just removed, leaves a stale port on the bridge, and restarts:
// the running container keeps its address and connectivity, no address is
// handed out twice, the stale port is removed.
func TestDaemonCrash(t *testing.T) {
	h := harness.NewHost(t)
	inet := h.AddMachine("10.77.1")
	srv := inet.Spawn(harness.Env.Netkit, "echo", "-l", ":7000", "-banner")
	srv.WaitOutput(t, "listening on", 5*time.Second)

	h.Must("run", "-d", "--name", "keep", "busybox", "netkit", "echo", "-l", ":7001")
	waitListening(h, "keep")
	keepIP, keepIf := ipOf(h, "keep"), hostIfOf(h, "keep")
	runSleeper(h, "gone")
	goneIP := ipOf(h, "gone")
	h.Must("rm", "-f", "gone")

	h.StopDaemon(syscall.SIGKILL)
	// A port left by a crash between plugging a veth and recording it.
	h.MustSh("ip link add b-deadbeef-0 type veth peer name b-deadbeef-p && ip link set b-deadbeef-0 master berth0 up")
	// Connectivity does not depend on the daemon.
	if r := h.Sh("ping -c 1 -W 2 " + keepIP); r.Code != 0 {
		t.Fatalf("keep unreachable while no daemon runs: %v", r)
	}
	h.StartDaemon()

	if ip := ipOf(h, "keep"); ip != keepIP {
		t.Fatalf("keep's address after restart = %s, want %s", ip, keepIP)
	}
	if r := h.Sh("ping -c 1 -W 2 " + keepIP); r.Code != 0 {
		t.Fatalf("host pings keep after restart: %v", r)
	}
	if r := dialFrom(h, "keep", inet.Addr+":7000"); bannerSource(r.Stdout) != inet.HostIP {
		t.Fatalf("keep reaches the internet machine after restart: %v", r)
	}
	ports := bridgePorts(h, "berth0")
	if contains(ports, "b-deadbeef-0") {
		t.Fatalf("stale port b-deadbeef-0 survived the restart: %v", ports)
	}
	if len(ports) != 1 || ports[0] != keepIf {
		t.Fatalf("berth0 ports after restart = %v, want only keep's %s", ports, keepIf)
	}
	seen := map[string]string{keepIP: "keep"}
	for i := range 3 {
		n := "new" + itoa(i)
		runSleeper(h, n)
		ip := ipOf(h, n)
		if other, dup := seen[ip]; dup {
			t.Fatalf("%s got %s, already %s's", n, ip, other)
		}
		seen[ip] = n
		if r := h.Docker("exec", n, "ping", "-c", "1", "-W", "2", keepIP); r.Code != 0 {
			t.Fatalf("%s pings keep: %v", n, r)
		}
	}
	_ = goneIP

	// A crash in the middle of a start leaves no port, address or element
	// for a container that does not run.
	go h.Docker("run", "-d", "--name", "inflight", "busybox", "sleep", "300")
	time.Sleep(40 * time.Millisecond)
	h.StopDaemon(syscall.SIGKILL)
	h.StartDaemon()
	running := map[string]bool{}
	for _, n := range strings.Fields(h.Must("ps", "--format", "{{.Names}}")) {
		running[hostIfOf(h, n)] = true
	}
	for _, p := range bridgePorts(h, "berth0") {
		if !running[p] {
			t.Fatalf("berth0 port %s belongs to no running container (ps: %v)", p, running)
		}
	}
	// A start cut short must not leave its container running unseen: once
	// removed, no process of it (its shim names its id) may remain.
	inflightID := strings.TrimSpace(h.Docker("inspect", "-f", "{{.Id}}", "inflight").Stdout)
	// The address inflight may have held is free again or in use by it.
	h.Docker("rm", "-f", "inflight")
	if inflightID != "" {
		harness.WaitFor(t, "no process of the interrupted container", 5*time.Second, func() bool {
			return !strings.Contains(h.MustSh("ps -ww -eo args"), inflightID)
		})
	}
	runSleeper(h, "last")
	if ip := ipOf(h, "last"); seen[ip] != "" {
		t.Fatalf("last got %s, still %s's", ip, seen[ip])
	}
}

// TestDefaultPoolSkipsUsed starts the daemon on a host where 172.17.0.0/16
// (Docker's docker0) is taken: the default bridge takes the next pool and
// the log says so.
func TestDefaultPoolSkipsUsed(t *testing.T) {
	h := harness.NewHostWith(t, func(h *harness.Host) {
		h.MustSh("ip link add fakedocker0 type veth peer name fakedocker1 && ip addr add 172.17.0.1/16 dev fakedocker0 && ip link set fakedocker0 up")
	})
	subnet := h.Must("network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", "bridge")
	if subnet != "172.18.0.0/16" {
		t.Fatalf("default bridge subnet with 172.17.0.0/16 in use = %s, want 172.18.0.0/16", subnet)
	}
	mustContain(t, "daemon log", h.DaemonLog(), "172.18.0.0/16")
	runSleeper(h, "box")
	if ip := netip.MustParseAddr(ipOf(h, "box")); !netip.MustParsePrefix(subnet).Contains(ip) {
		t.Fatalf("container got %s outside %s", ip, subnet)
	}
}

// TestChangeBIP restarts the daemon with another --bip: the default
// network moves to it, once, and the old gateway address goes away.
func TestChangeBIP(t *testing.T) {
	h := harness.NewHost(t, "--bip", "10.200.0.1/24")
	runSleeper(h, "before")
	h.Must("stop", "-t", "1", "before")
	h.StopDaemon(syscall.SIGTERM)
	h.SetDaemonFlags("--bip", "10.201.0.1/24")
	h.StartDaemon()
	for range 2 {
		nets := h.Must("network", "ls", "--format", "{{.Name}}")
		if n := strings.Count(nets, "bridge"); n != 1 {
			t.Fatalf("after changing --bip, docker network ls lists %d bridge networks:\n%s", n, nets)
		}
		cfg := h.Must("network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}} {{(index .IPAM.Config 0).Gateway}}", "bridge")
		if cfg != "10.201.0.0/24 10.201.0.1" {
			t.Fatalf("after changing --bip to 10.201.0.1/24, network inspect bridge: %s", cfg)
		}
		addrs := h.MustSh("ip -o addr show berth0")
		mustContain(t, "ip addr show berth0", addrs, "10.201.0.1/24")
		mustNotContain(t, "ip addr show berth0", addrs, "10.200.0.1")
		h.Must("start", "before")
		if ip := ipOf(h, "before"); !strings.HasPrefix(ip, "10.201.0.") {
			t.Fatalf("container started after the change got %s", ip)
		}
		if r := h.Sh("ping -c 1 -W 2 " + ipOf(h, "before")); r.Code != 0 {
			t.Fatalf("host pings the container on the new subnet: %v", r)
		}
		h.Must("stop", "-t", "1", "before")
		// A second restart with the same flags changes nothing.
		h.StopDaemon(syscall.SIGTERM)
		h.StartDaemon()
	}
}
