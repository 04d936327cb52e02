package usernet

import (
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/test/e2e/harness"
)

// TestInternalAndUpstream runs an "internet" machine with a redis stand-in
// and a DNS server that the daemon uses as its upstream (--dns, after a
// dead one, so failover is on the path). A container on a normal network
// reaches the internet, resolves outside names through the embedded
// resolver without stalling, and is masqueraded. On an --internal network
// there is no route out and outside names do not resolve, while local names
// do. With enable_ip_masquerade=false the internet sees the container's own
// address.
func TestInternalAndUpstream(t *testing.T) {
	t.Parallel()
	h := harness.NewHost(t, "--dns", "10.77.1.99", "--dns", "10.77.1.2")
	inet := h.AddMachine("10.77.1")
	upstreamDNS(t, inet, "ext.test=10.77.1.2", "www.ext.test=10.77.1.2")
	inet.Spawn(harness.Env.Netkit, "echo", "-l", ":6379", "-banner").WaitOutput(t, "listening on", 5*time.Second)
	internet := inet.Addr + ":6379"

	h.Must("network", "create", "pubnet")
	h.Must("network", "create", "--internal", "privnet")
	h.Must("network", "create", "-o", "com.docker.network.bridge.enable_ip_masquerade=false", "nomasq")
	if n := inspectNetwork(t, h, "privnet"); !n.Internal {
		t.Fatalf("inspect privnet: Internal = false")
	}
	runDetached(h, append([]string{"--name", "pub", "--network", "pubnet", "busybox"}, sleeper...)...)
	runDetached(h, append([]string{"--name", "priv", "--network", "privnet", "busybox"}, sleeper...)...)
	runDetached(h, append([]string{"--name", "privdb", "--network", "privnet", "busybox"}, redisCmd...)...)
	runDetached(h, append([]string{"--name", "raw", "--network", "nomasq", "busybox"}, sleeper...)...)

	// A normal network: out through NAT, outside names forwarded upstream.
	r := h.Docker("exec", "pub", "netkit", "dial", "-t", "2s", "-lines", "2", internet)
	if r.Code != 0 || !strings.Contains(r.Stdout, "from "+inet.HostIP+":") || !strings.Contains(r.Stdout, "+PONG") {
		t.Fatalf("pub: dial the internet: %v, want +PONG from the host's address %s (masquerade)", r, inet.HostIP)
	}
	for i := 0; i < 3; i++ {
		start := time.Now()
		mustResolve(t, h, "pub", "ext.test", "10.77.1.2")
		if took := time.Since(start); took > 1500*time.Millisecond {
			t.Fatalf("pub: resolving ext.test with the first upstream dead took %s", took)
		}
	}
	mustNotResolve(t, h, "pub", "nosuch.ext.test")

	// Internal: no route out, no forwarding, local names still work.
	if out := h.Must("exec", "priv", "ip", "route"); strings.Contains(out, "default") {
		t.Fatalf("priv on an internal network has a default route:\n%s", out)
	}
	mustNotReach(t, h, "priv", internet)
	if r := inet.Sh(harness.Env.Netkit + " dial -t 1s " + ipOf(t, h, "priv", "privnet") + ":6379"); r.Code == 0 {
		t.Fatalf("the internet reached a container on an internal network: %v", r)
	}
	start := time.Now()
	mustNotResolve(t, h, "priv", "ext.test")
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Fatalf("priv: refusing ext.test took %s", took)
	}
	mustResolve(t, h, "priv", "privdb", ipOf(t, h, "privdb", "privnet"))
	mustReach(t, h, "priv", "privdb:6379")

	// No masquerade: the internet sees the container's own address (it
	// routes back through the host).
	r = h.Docker("exec", "raw", "netkit", "dial", "-t", "2s", "-lines", "2", internet)
	if want := "from " + ipOf(t, h, "raw", "nomasq") + ":"; r.Code != 0 || !strings.Contains(r.Stdout, want) {
		t.Fatalf("raw: dial the internet without masquerade: %v, want %q", r, want)
	}
}

// TestICCDisabled checks that with enable_icc=false containers on one
// network cannot talk to each other, yet still resolve each other's names
// and reach each other's published ports through the host.
func TestICCDisabled(t *testing.T) {
	t.Parallel()
	h := harness.NewHost(t)
	lan := h.AddMachine("10.77.2")
	h.Must("network", "create", "-o", "com.docker.network.bridge.enable_icc=false", "noicc")
	if n := inspectNetwork(t, h, "noicc"); n.Options["com.docker.network.bridge.enable_icc"] != "false" {
		t.Fatalf("inspect noicc Options = %v", n.Options)
	}
	runDetached(h, append([]string{"--name", "db", "--network", "noicc", "-p", "16379:6379", "busybox"}, redisCmd...)...)
	runDetached(h, append([]string{"--name", "client", "--network", "noicc", "busybox"}, sleeper...)...)
	dbIP := ipOf(t, h, "db", "noicc")
	mustResolve(t, h, "client", "db", dbIP)
	mustNotReach(t, h, "client", "db:6379")
	mustNotReach(t, h, "client", dbIP+":6379")
	mustReach(t, h, "client", lan.HostIP+":16379")
	if r := lan.Sh(harness.Env.Netkit + " dial -t 1s " + lan.HostIP + ":16379"); r.Code != 0 || !strings.Contains(r.Stdout, "+PONG") {
		t.Fatalf("another machine: dial the published port: %v", r)
	}
	// Control: the same pair on a normal network talks.
	h.Must("network", "create", "icc")
	h.Must("network", "connect", "icc", "db")
	h.Must("network", "connect", "icc", "client")
	mustReach(t, h, "client", ipOf(t, h, "db", "icc")+":6379")
}

// TestDefaultBridgeIsolation checks that containers on the default bridge
// and on a user-defined network reach neither each other's addresses nor
// names, and that the default bridge has no embedded names at all.
func TestDefaultBridgeIsolation(t *testing.T) {
	t.Parallel()
	h := harness.NewHost(t)
	h.Must("network", "create", "appnet")
	runDetached(h, append([]string{"--name", "redis", "--network", "appnet", "busybox"}, redisCmd...)...)
	runDetached(h, append([]string{"--name", "legacy", "busybox"}, redisCmd...)...)
	runDetached(h, append([]string{"--name", "legacy2", "busybox"}, sleeper...)...)
	mustNotReach(t, h, "legacy", ipOf(t, h, "redis", "appnet")+":6379")
	mustNotReach(t, h, "redis", ipOf(t, h, "legacy", "bridge")+":6379")
	mustReach(t, h, "legacy2", ipOf(t, h, "legacy", "bridge")+":6379")
	if r := h.Docker("exec", "legacy2", "nslookup", "legacy"); r.Code == 0 && strings.Contains(r.Stdout, ipOf(t, h, "legacy", "bridge")) {
		t.Fatalf("a default-bridge container resolved another by name: %v", r)
	}
	// Two user-defined networks are isolated from each other as well.
	h.Must("network", "create", "othernet")
	runDetached(h, append([]string{"--name", "other", "--network", "othernet", "busybox"}, sleeper...)...)
	mustNotReach(t, h, "other", ipOf(t, h, "redis", "appnet")+":6379")
}
