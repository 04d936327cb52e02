package usernet

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/test/e2e/harness"
)

// TestCreateOptions creates a network with every IPAM and bridge option
// and checks what inspect, the host and a container show.
func TestCreateOptions(t *testing.T) {
	t.Parallel()
	h := harness.NewHost(t)
	id := h.Must("network", "create", "--driver", "bridge",
		"--subnet", "10.50.0.0/16", "--ip-range", "10.50.1.0/24", "--gateway", "10.50.0.254",
		"--aux-address", "printer=10.50.1.1", "--attachable", "--label", "env=test", "--label", "team=net",
		"-o", "com.docker.network.bridge.name=br-custom", "-o", "com.docker.network.driver.mtu=1400", "custom")
	if len(id) != 64 {
		t.Fatalf("docker network create printed %q, want a 64-character id", id)
	}
	n := inspectNetwork(t, h, "custom")
	if n.ID != id || n.Driver != "bridge" || !n.Attachable || n.Internal || n.Labels["env"] != "test" || n.Labels["team"] != "net" {
		t.Fatalf("inspect custom = %+v", n)
	}
	if len(n.IPAM.Config) != 1 {
		t.Fatalf("inspect custom IPAM.Config = %+v, want one subnet", n.IPAM.Config)
	}
	c := n.IPAM.Config[0]
	if c.Subnet != "10.50.0.0/16" || c.IPRange != "10.50.1.0/24" || c.Gateway != "10.50.0.254" || c.AuxiliaryAddresses["printer"] != "10.50.1.1" {
		t.Fatalf("inspect custom IPAM.Config[0] = %+v", c)
	}
	if n.Options["com.docker.network.bridge.name"] != "br-custom" || n.Options["com.docker.network.driver.mtu"] != "1400" {
		t.Fatalf("inspect custom Options = %v", n.Options)
	}
	if out := h.Must("network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}"); !strings.Contains(out, "custom bridge local") {
		t.Fatalf("docker network ls lacks custom:\n%s", out)
	}
	// The host has the bridge under the given name, with the gateway and the MTU.
	if out := h.MustSh("ip -o addr show dev br-custom; ip -o link show dev br-custom"); !strings.Contains(out, "10.50.0.254/16") || !strings.Contains(out, "mtu 1400") {
		t.Fatalf("host's br-custom:\n%s", out)
	}

	// Dynamic addresses come from the ip-range and skip the aux address.
	runDetached(h, append([]string{"--name", "c1", "--network", "custom", "busybox"}, redisCmd...)...)
	ip := netip.MustParseAddr(ipOf(t, h, "c1", "custom"))
	if !netip.MustParsePrefix("10.50.1.0/24").Contains(ip) || ip.String() == "10.50.1.1" {
		t.Fatalf("c1 got %s, want an address of the ip-range 10.50.1.0/24 other than the aux address", ip)
	}
	if out := h.Must("exec", "c1", "cat", "/sys/class/net/eth0/mtu"); out != "1400" {
		t.Fatalf("c1's eth0 mtu = %s, want 1400", out)
	}
	if out := h.Must("exec", "c1", "ip", "route"); !strings.Contains(out, "default via 10.50.0.254") {
		t.Fatalf("c1's routes lack the gateway 10.50.0.254:\n%s", out)
	}
	if out := h.MustSh("brctl show br-custom"); !strings.Contains(out, "b-") {
		t.Fatalf("brctl show br-custom lists no container port:\n%s", out)
	}

	// Static address (outside the ip-range is fine), hostname and MAC address.
	runDetached(h, append([]string{"--name", "c2", "--network", "custom", "--ip", "10.50.0.10",
		"--hostname", "myhost", "--mac-address", "02:42:0a:32:00:0a", "busybox"}, sleeper...)...)
	ep := inspectContainer(t, h, "c2").NetworkSettings.Networks["custom"]
	if ep.IPAddress != "10.50.0.10" || ep.IPPrefixLen != 16 || ep.Gateway != "10.50.0.254" || ep.MacAddress != "02:42:0a:32:00:0a" || ep.EndpointID == "" {
		t.Fatalf("c2's endpoint on custom = %+v", ep)
	}
	if out := h.Must("exec", "c2", "hostname"); out != "myhost" {
		t.Fatalf("c2 hostname = %q, want myhost", out)
	}
	if out := h.Must("exec", "c2", "cat", "/sys/class/net/eth0/address"); out != "02:42:0a:32:00:0a" {
		t.Fatalf("c2 eth0 address = %q, want 02:42:0a:32:00:0a", out)
	}
	if out := h.Must("exec", "c2", "ip", "-o", "-4", "addr", "show", "eth0"); !strings.Contains(out, "10.50.0.10/16") {
		t.Fatalf("c2 eth0:\n%s", out)
	}
	mustReach(t, h, "c2", "c1:6379")
	n = inspectNetwork(t, h, "custom")
	if len(n.Containers) != 2 || n.Containers[inspectContainer(t, h, "c2").ID].IPv4Address != "10.50.0.10/16" {
		t.Fatalf("inspect custom Containers = %+v, want c1 and c2 (10.50.0.10/16)", n.Containers)
	}
}

// TestAdoptedBridge gives a network a bridge the administrator made: berth
// uses it and, on network rm, takes back only its gateway address.
func TestAdoptedBridge(t *testing.T) {
	t.Parallel()
	h := harness.NewHost(t)
	h.MustSh("ip link add lanbr type bridge && ip link set lanbr up")
	h.Must("network", "create", "--subnet", "10.80.0.0/24", "-o", "com.docker.network.bridge.name=lanbr", "lan")
	runDetached(h, append([]string{"--name", "srv", "--network", "lan", "busybox"}, redisCmd...)...)
	runDetached(h, append([]string{"--name", "cli", "--network", "lan", "busybox"}, sleeper...)...)
	mustReach(t, h, "cli", "srv:6379")
	if out := h.MustSh("ip -o addr show dev lanbr"); !strings.Contains(out, "10.80.0.1/24") {
		t.Fatalf("lanbr lacks the gateway address:\n%s", out)
	}
	h.Must("rm", "-f", "srv", "cli")
	h.Must("network", "rm", "lan")
	r := h.Sh("ip -o addr show dev lanbr")
	if r.Code != 0 {
		t.Fatalf("network rm deleted the administrator's bridge lanbr: %v", r)
	}
	if strings.Contains(r.Stdout, "10.80.0.1") {
		t.Fatalf("network rm left the gateway address on lanbr:\n%s", r.Stdout)
	}
}

// TestMultipleNetworks runs a container on two networks at once, with
// aliases on each, and checks that inspect shows both endpoints and that
// each network's members find it by that network's alias.
func TestMultipleNetworks(t *testing.T) {
	t.Parallel()
	h := harness.NewHost(t)
	h.Must("network", "create", "front")
	h.Must("network", "create", "back")
	runDetached(h, append([]string{"--name", "svc", "--network", "name=front,alias=web", "--network", "name=back,alias=api", "busybox"}, redisCmd...)...)
	runDetached(h, append([]string{"--name", "fe", "--network", "front", "busybox"}, sleeper...)...)
	runDetached(h, append([]string{"--name", "be", "--network", "back", "busybox"}, sleeper...)...)
	info := inspectContainer(t, h, "svc")
	for _, name := range []string{"front", "back"} {
		ep, ok := info.NetworkSettings.Networks[name]
		if !ok || ep.IPAddress == "" || ep.EndpointID == "" || ep.MacAddress == "" || ep.NetworkID != inspectNetwork(t, h, name).ID {
			t.Fatalf("svc inspect on %s = %+v (present %v)", name, ep, ok)
		}
	}
	if out := h.Must("exec", "svc", "ls", "/sys/class/net"); !strings.Contains(out, "eth0") || !strings.Contains(out, "eth1") {
		t.Fatalf("svc interfaces: %s, want eth0 and eth1", out)
	}
	mustReach(t, h, "fe", "web:6379")
	mustReach(t, h, "be", "api:6379")
	mustNotResolve(t, h, "fe", "api")
	mustNotResolve(t, h, "be", "web")
	mustResolve(t, h, "fe", "svc", info.NetworkSettings.Networks["front"].IPAddress)
	mustResolve(t, h, "be", "svc", info.NetworkSettings.Networks["back"].IPAddress)

	// An alias given at connect time.
	h.Must("network", "connect", "--alias", "late", "back", "fe")
	mustResolve(t, h, "be", "late", inspectContainer(t, h, "fe").NetworkSettings.Networks["back"].IPAddress)
	if al := inspectContainer(t, h, "fe").NetworkSettings.Networks["back"].Aliases; !contains(al, "late") {
		t.Fatalf("fe's aliases on back = %v, want late among them", al)
	}
}

// TestDualStack makes an IPv6 network: containers get both addresses,
// static --ip6 works, and they ping each other over IPv6, by address and
// by name.
func TestDualStack(t *testing.T) {
	t.Parallel()
	h := harness.NewHost(t)
	h.Must("network", "create", "--ipv6", "--subnet", "fd00:1::/64", "v6net")
	n := inspectNetwork(t, h, "v6net")
	var has4, has6 bool
	for _, c := range n.IPAM.Config {
		p := netip.MustParsePrefix(c.Subnet)
		has4, has6 = has4 || p.Addr().Is4(), has6 || p.Addr().Is6()
	}
	if !n.EnableIPv6 || !has4 || !has6 {
		t.Fatalf("inspect v6net = %+v, want IPv6 enabled with an IPv4 and the fd00:1::/64 subnet", n)
	}
	runDetached(h, append([]string{"--name", "v6a", "--network", "v6net", "busybox"}, sleeper...)...)
	runDetached(h, append([]string{"--name", "v6b", "--network", "v6net", "--ip6", "fd00:1::100", "busybox"}, sleeper...)...)
	ea := inspectContainer(t, h, "v6a").NetworkSettings.Networks["v6net"]
	eb := inspectContainer(t, h, "v6b").NetworkSettings.Networks["v6net"]
	if ea.IPAddress == "" || !strings.HasPrefix(ea.GlobalIPv6Address, "fd00:1::") || ea.GlobalIPv6PrefixLen != 64 {
		t.Fatalf("v6a's endpoint = %+v, want an IPv4 and an fd00:1::/64 address", ea)
	}
	if eb.GlobalIPv6Address != "fd00:1::100" || eb.IPv6Gateway == "" {
		t.Fatalf("v6b's endpoint = %+v, want fd00:1::100 and a v6 gateway", eb)
	}
	if out := h.Must("exec", "v6a", "ip", "-o", "addr", "show", "eth0"); !strings.Contains(out, ea.IPAddress+"/") || !strings.Contains(out, ea.GlobalIPv6Address+"/64") {
		t.Fatalf("v6a's eth0 lacks one of its addresses:\n%s", out)
	}
	if r := h.Docker("exec", "v6a", "ping", "-6", "-c", "1", "-W", "3", "fd00:1::100"); r.Code != 0 {
		t.Fatalf("v6a: ping -6 fd00:1::100: %v", r)
	}
	if r := h.Docker("exec", "v6b", "ping", "-c", "1", "-W", "3", ea.GlobalIPv6Address); r.Code != 0 {
		t.Fatalf("v6b: ping %s: %v", ea.GlobalIPv6Address, r)
	}
	mustResolve(t, h, "v6a", "v6b", "fd00:1::100", eb.IPAddress)
	if r := h.Docker("exec", "v6a", "ping", "-6", "-c", "1", "-W", "3", "v6b"); r.Code != 0 {
		t.Fatalf("v6a: ping -6 b: %v", r)
	}
}

// TestListFiltersAndPrune checks ls filters (name, driver, label, type) and
// prune, which keeps networks in use and the predefined ones.
func TestListFiltersAndPrune(t *testing.T) {
	t.Parallel()
	h := harness.NewHost(t)
	h.Must("network", "create", "--label", "tier=a", "n-one")
	h.Must("network", "create", "--label", "tier=b", "n-two")
	h.Must("network", "create", "--label", "tier=b", "n-three")
	h.Must("network", "create", "keep")
	runDetached(h, append([]string{"--name", "user", "--network", "n-three", "busybox"}, sleeper...)...)
	ls := func(args ...string) string {
		t.Helper()
		out := strings.Fields(h.Must(append([]string{"network", "ls", "--format", "{{.Name}}"}, args...)...))
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		filters []string
		want    string
	}{
		{nil, "bridge host keep n-one n-three n-two none"},
		{[]string{"--filter", "name=n-t"}, "n-three n-two"},
		{[]string{"--filter", "driver=bridge"}, "bridge keep n-one n-three n-two"},
		{[]string{"--filter", "label=tier"}, "n-one n-three n-two"},
		{[]string{"--filter", "label=tier=b"}, "n-three n-two"},
		{[]string{"--filter", "type=custom"}, "keep n-one n-three n-two"},
		{[]string{"--filter", "type=builtin"}, "bridge host none"},
		{[]string{"--filter", "name=n-", "--filter", "label=tier=a"}, "n-one"},
		{[]string{"--filter", "name=^n-t.*e$"}, "n-three"},
		{[]string{"--filter", "label=tier", "--filter", "label=tier=b"}, "n-three n-two"},
		{[]string{"--filter", "dangling=true"}, "keep n-one n-two"},
		{[]string{"--filter", "dangling=false"}, "bridge host n-three none"},
		{[]string{"--filter", "scope=local", "--filter", "driver=host"}, "host"},
	} {
		if got := ls(tc.filters...); got != tc.want {
			t.Errorf("docker network ls %v = %q, want %q", tc.filters, got, tc.want)
		}
	}
	if out := h.Must("network", "ls", "-q", "--filter", "name=keep"); out != inspectNetwork(t, h, "keep").ID[:12] {
		t.Errorf("docker network ls -q --filter name=keep = %q, want the short id", out)
	}

	dockerFails(t, h, "invalid filter 'color'", "network", "ls", "--filter", "color=red")
	dockerFails(t, h, "invalid filter 'name'", "network", "prune", "-f", "--filter", "name=n-one")
	if out := h.Must("network", "prune", "-f", "--filter", "until=1h"); strings.Contains(out, "n-") {
		t.Fatalf("docker network prune --filter until=1h removed networks made just now:\n%s", out)
	}
	out := h.Must("network", "prune", "-f", "--filter", "label=tier", "--filter", "label!=tier=a")
	if !strings.Contains(out, "n-two") || strings.Contains(out, "n-three") || strings.Contains(out, "n-one") {
		t.Fatalf("docker network prune --filter label=tier --filter label!=tier=a printed:\n%s\nwant n-two only (n-three is in use)", out)
	}
	if got := ls(); got != "bridge host keep n-one n-three none" {
		t.Fatalf("after the label prune: %q", got)
	}
	h.Must("network", "prune", "-f")
	if got := ls(); got != "bridge host n-three none" {
		t.Fatalf("after prune: %q, want the predefined networks and n-three (in use)", got)
	}
	// Bridge devices go a moment after the API answers (the kernel's RCU grace period).
	harness.WaitFor(t, "two bridges left after prune (default and n-three)", 3*time.Second, func() bool {
		return strings.Count(h.MustSh("ip -o link show type bridge"), "\n")+1 == 2
	})
}

// TestDefaultPools checks that subnets picked from the default pools overlap
// neither each other nor the host's own routes, and that a given subnet
// overlapping a network's is refused.
func TestDefaultPools(t *testing.T) {
	t.Parallel()
	// A LAN on the host that uses the second default pool.
	h := harness.NewHostWith(t, func(h *harness.Host) {
		h.MustSh("ip link add lan0 type veth peer name lan0p && ip addr add 172.18.0.5/24 dev lan0 && ip link set lan0 up")
	})
	var subnets []netip.Prefix
	for _, name := range []string{"p1", "p2", "p3", "p4"} {
		h.Must("network", "create", name)
		subnets = append(subnets, netip.MustParsePrefix(inspectNetwork(t, h, name).IPAM.Config[0].Subnet))
	}
	subnets = append(subnets, netip.MustParsePrefix(inspectNetwork(t, h, "bridge").IPAM.Config[0].Subnet))
	for i, a := range subnets {
		if a.Overlaps(netip.MustParsePrefix("172.18.0.0/24")) {
			t.Fatalf("subnet %s overlaps the host's 172.18.0.5/24", a)
		}
		for _, b := range subnets[i+1:] {
			if a.Overlaps(b) {
				t.Fatalf("default-pool subnets overlap: %v", subnets)
			}
		}
	}
	before := kernelState(t, h)
	dockerFails(t, h, "Pool overlaps with other one on this address space", "network", "create", "--subnet", subnets[0].String(), "clash")
	apiError(t, h, "POST", "/networks/create", `{"Name":"clash","IPAM":{"Config":[{"Subnet":"`+subnets[1].String()+`"}]}}`, 400, "Pool overlaps with other one on this address space")
	sameKernelState(t, h, before, "refused overlapping create")
}
