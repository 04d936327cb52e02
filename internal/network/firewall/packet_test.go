package firewall

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// inNS runs fn on a thread switched into ns; sockets fn creates stay in ns.
func inNS(t testing.TB, ns *testNS, fn func() error) error {
	t.Helper()
	return inNetNS(ns.fd, fn)
}

// serveRemoteAddr listens on addr inside ns and answers every connection
// with the peer address it sees.
func serveRemoteAddr(t testing.TB, ns *testNS, addr string) {
	t.Helper()
	var l net.Listener
	if err := inNS(t, ns, func() (err error) {
		l, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, ns.name, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, c.RemoteAddr().String())
			c.Close()
		}
	}()
}

// dialFrom connects from ns to addr and returns the peer address the
// server reported.
func dialFrom(t testing.TB, ns *testNS, addr string, timeout time.Duration) (string, error) {
	t.Helper()
	var c net.Conn
	if err := inNS(t, ns, func() (err error) {
		c, err = net.DialTimeout("tcp", addr, timeout)
		return err
	}); err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read from %s: %w", addr, err)
	}
	host, _, err := net.SplitHostPort(strings.TrimSpace(line))
	return host, err
}

// expectPeer retries for a few seconds, so neighbour discovery on fresh
// links cannot fail a check; unreachability is checked with one attempt.
func expectPeer(t *testing.T, ns *testNS, addr, wantPeer string) {
	t.Helper()
	deadline := time.Now().Add(6 * time.Second)
	got, err := dialFrom(t, ns, addr, 2*time.Second)
	for err != nil && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		got, err = dialFrom(t, ns, addr, 2*time.Second)
	}
	if err != nil {
		t.Errorf("from %s, dial %s: %v", ns.name, addr, err)
		return
	}
	if got != wantPeer {
		t.Errorf("from %s, dial %s: server saw %s, want %s", ns.name, addr, got, wantPeer)
	}
}

func expectUnreachable(t *testing.T, ns *testNS, addr string) {
	t.Helper()
	if got, err := dialFrom(t, ns, addr, 1500*time.Millisecond); err == nil {
		t.Errorf("from %s, dial %s: connected (server saw %s), want it blocked", ns.name, addr, got)
	}
}

// topology: client ns --veth-- host ns (bridge) --veth-- container ns.
type topology struct {
	host, container, client *testNS
	bridge                  string
}

const (
	bridgeAddr    = "192.0.2.1"
	containerAddr = "192.0.2.2"
	hostLinkAddr  = "198.51.100.1"
	clientAddr    = "198.51.100.2"
)

func newTopology(t *testing.T) *topology {
	t.Helper()
	tp := &topology{
		host:   newNetNS(t, "host"),
		client: newNetNS(t, "cli"),
		bridge: "brt" + randHex(3),
	}
	h, k := tp.host, tp.client
	addBridge(t, h, tp.bridge, bridgeAddr+"/24")
	tp.container = addContainer(t, h, tp.bridge, containerAddr+"/24", bridgeAddr)
	run(t, "ip", "link", "add", "hk0", "netns", h.name, "type", "veth", "peer", "name", "eth0", "netns", k.name)
	h.run(t, "ip", "addr", "add", hostLinkAddr+"/24", "dev", "hk0")
	h.run(t, "ip", "link", "set", "hk0", "up")
	k.run(t, "ip", "addr", "add", clientAddr+"/24", "dev", "eth0")
	k.run(t, "ip", "link", "set", "eth0", "up")
	if err := inNS(t, h, func() error {
		return errors.Join(EnableForwarding(false), EnableRouteLocalnet(tp.bridge))
	}); err != nil {
		t.Fatal(err)
	}
	return tp
}

func addBridge(t *testing.T, h *testNS, name, cidr string) {
	t.Helper()
	h.run(t, "ip", "link", "add", name, "type", "bridge")
	h.run(t, "ip", "addr", "add", cidr, "dev", name)
	h.run(t, "ip", "link", "set", name, "up")
}

// addContainer creates a namespace wired to bridge in h through a veth
// pair, with address cidr and a default route via gw.
func addContainer(t *testing.T, h *testNS, bridge, cidr, gw string) *testNS {
	t.Helper()
	c := newNetNS(t, "ctr")
	port := "vc" + randHex(4)
	run(t, "ip", "link", "add", port, "netns", h.name, "type", "veth", "peer", "name", "eth0", "netns", c.name)
	h.run(t, "ip", "link", "set", port, "master", bridge, "up")
	// As a daemon does for every container port: with br_netfilter a
	// container reaching its own published port is bridged back out of the
	// port it came in on.
	h.run(t, "ip", "link", "set", port, "type", "bridge_slave", "hairpin", "on")
	c.run(t, "ip", "addr", "add", cidr, "dev", "eth0", "nodad")
	c.run(t, "ip", "link", "set", "eth0", "up")
	c.run(t, "ip", "route", "add", "default", "via", gw)
	return c
}

// routeLoopbackVia makes ns send 127.0.0.0/8 to gw instead of its own lo,
// as a hostile neighbour would.
func routeLoopbackVia(t *testing.T, ns *testNS, gw string) {
	t.Helper()
	ns.run(t, "ip", "route", "add", "127.0.0.0/8", "via", gw, "dev", "eth0", "table", "100")
	ns.run(t, "ip", "rule", "add", "pref", "10", "to", "127.0.0.0/8", "lookup", "100")
	ns.run(t, "ip", "rule", "add", "pref", "20", "lookup", "local")
	ns.run(t, "ip", "rule", "del", "pref", "0")
	ns.run(t, "sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1", "net.ipv4.conf.eth0.route_localnet=1")
}

func TestPackets(t *testing.T) {
	requireRoot(t)
	tp := newTopology(t)
	fw := newTestFirewall(t, tp.host)
	publishTestPorts(t, tp, fw)
	serveRemoteAddr(t, tp.container, ":80")
	serveRemoteAddr(t, tp.container, ":30500")
	serveRemoteAddr(t, tp.client, clientAddr+":9000")

	checkPublishing(t, tp)
	tp.client.run(t, "ip", "route", "add", "192.0.2.0/24", "via", hostLinkAddr)
	t.Run("mapping on one host address, on that address", func(t *testing.T) {
		expectPeer(t, tp.client, bridgeAddr+":8082", clientAddr)
	})
	routeLoopbackVia(t, tp.client, hostLinkAddr)
	checkNeighbour(t, tp, fw)
	checkDockerCoexistence(t, tp, fw)
	t.Run("published port after deletion", func(t *testing.T) {
		if err := fw.DelPorts(context.Background(), []PortMapping{{Proto: "tcp", HostPort: 8080, ContainerIP: addr(containerAddr), ContainerPort: 80}}); err != nil {
			t.Fatal(err)
		}
		expectUnreachable(t, tp.client, hostLinkAddr+":8080")
	})
}

func publishTestPorts(t *testing.T, tp *topology, fw *Firewall) {
	t.Helper()
	ctx := context.Background()
	if err := fw.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := fw.AddNetwork(ctx, Network{ID: "pkt", Bridge: tp.bridge, ICC: true, Masquerade: true,
		Subnets: []netip.Prefix{prefix(bridgeAddr + "/24")}}); err != nil {
		t.Fatal(err)
	}
	ctr := addr(containerAddr)
	if err := fw.AddPorts(ctx, []PortMapping{
		{Proto: "tcp", HostPort: 8080, HostPortEnd: 8080, ContainerIP: ctr, ContainerPort: 80, Bridge: tp.bridge},
		{Proto: "tcp", HostIP: addr("127.0.0.1"), HostPort: 8081, HostPortEnd: 8081, ContainerIP: ctr, ContainerPort: 80, Bridge: tp.bridge},
		{Proto: "tcp", HostIP: addr(bridgeAddr), HostPort: 8082, HostPortEnd: 8082, ContainerIP: ctr, ContainerPort: 80, Bridge: tp.bridge},
		{Proto: "tcp", HostPort: 9100, HostPortEnd: 9199, ContainerIP: ctr, ContainerPort: 80, Bridge: tp.bridge},
		{Proto: "tcp", HostIP: addr(hostLinkAddr), HostPort: 30000, HostPortEnd: 30999, ContainerIP: ctr, ContainerPort: 30000, Bridge: tp.bridge},
	}); err != nil {
		t.Fatal(err)
	}
}

// checkPublishing covers published ports, hairpin and masquerade.
func checkPublishing(t *testing.T, tp *topology) {
	h, c, k := tp.host, tp.container, tp.client
	t.Run("published port keeps client address", func(t *testing.T) {
		expectPeer(t, k, hostLinkAddr+":8080", clientAddr)
	})
	t.Run("port ranges", func(t *testing.T) {
		expectPeer(t, k, hostLinkAddr+":9100", clientAddr)
		expectPeer(t, k, hostLinkAddr+":9199", clientAddr)
		expectPeer(t, k, hostLinkAddr+":30500", clientAddr)
		expectUnreachable(t, k, hostLinkAddr+":9200")
	})
	t.Run("published port from the host itself", func(t *testing.T) {
		// The host sources it from its own address, so no masquerade.
		expectPeer(t, h, hostLinkAddr+":8080", hostLinkAddr)
		expectPeer(t, h, "127.0.0.1:8080", bridgeAddr)
	})
	t.Run("127.0.0.1 mapping from the host", func(t *testing.T) {
		expectPeer(t, h, "127.0.0.1:8081", bridgeAddr)
		expectUnreachable(t, h, hostLinkAddr+":8081")
	})
	t.Run("mapping on one host address only", func(t *testing.T) {
		expectUnreachable(t, k, hostLinkAddr+":8082")
	})
	t.Run("hairpin", func(t *testing.T) {
		expectPeer(t, c, hostLinkAddr+":8080", bridgeAddr)
	})
	t.Run("masquerade", func(t *testing.T) {
		expectPeer(t, c, clientAddr+":9000", hostLinkAddr)
	})
	t.Run("host reaches container directly", func(t *testing.T) {
		expectPeer(t, h, containerAddr+":80", bridgeAddr)
	})
}

// checkNeighbour plays a hostile neighbour that routes the bridge subnet
// and 127.0.0.0/8 to the host. Each check also removes the rules that stop
// it, to show the attack works without them.
func checkNeighbour(t *testing.T, tp *topology, fw *Firewall) {
	h, k := tp.host, tp.client
	without := func(t *testing.T, chain, addr string) {
		t.Helper()
		expectUnreachable(t, k, addr)
		h.run(t, "nft", "flush", "chain", "inet", fw.table.Name, chain)
		expectPeer(t, k, addr, clientAddr)
		if err := fw.Init(context.Background()); err != nil {
			t.Fatal(err)
		}
		expectUnreachable(t, k, addr)
	}
	t.Run("unpublished container address from a neighbour", func(t *testing.T) {
		without(t, chainForward, containerAddr+":80")
	})
	t.Run("127.0.0.1 mapping from a neighbour routing 127/8 to the host", func(t *testing.T) {
		// moby#45610: without the guard chain, DNAT happens before the
		// kernel's martian check and the neighbour gets through.
		without(t, chainGuard, "127.0.0.1:8081")
	})
}

func checkDockerCoexistence(t *testing.T, tp *topology, fw *Firewall) {
	h, c, k := tp.host, tp.container, tp.client
	t.Run("coexistence with Docker's FORWARD drop policy", func(t *testing.T) {
		if _, err := exec.LookPath("iptables"); err != nil {
			t.Skip("needs iptables")
		}
		h.run(t, "iptables", "-w", "-N", dockerUserChain)
		h.run(t, "iptables", "-w", "-P", "FORWARD", "DROP")
		h.run(t, "iptables", "-w", "-I", "FORWARD", "-j", dockerUserChain)
		expectUnreachable(t, k, hostLinkAddr+":8080")
		expectUnreachable(t, c, clientAddr+":9000")
		if err := fw.AllowInDockerUser(context.Background(), tp.bridge); err != nil {
			t.Fatal(err)
		}
		expectPeer(t, k, hostLinkAddr+":8080", clientAddr)
		expectPeer(t, c, clientAddr+":9000", hostLinkAddr)
		expectPeer(t, c, hostLinkAddr+":8080", bridgeAddr)
		// Docker's accept does not override berth's own drops.
		expectUnreachable(t, k, containerAddr+":80")
	})
}
