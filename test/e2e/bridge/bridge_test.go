// Package bridge holds the end-to-end tests of the default bridge network
// (issue 4): addresses, veth ports on berth0, NAT to the outside, isolation
// from other machines, network modes, /etc files, teardown and crash
// recovery, all as a user sees them through the docker CLI.
package bridge

import (
	"encoding/json"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/test/e2e/harness"
)

// TestDefaultBridge walks the seed's first chapter: two containers on the
// default bridge, their addresses, the bridge's ports, a web page.
func TestDefaultBridge(t *testing.T) {
	h := harness.NewHost(t)
	if out := h.Must("network", "ls", "--format", "{{.Name}} {{.Driver}}"); !strings.Contains(out, "bridge bridge") ||
		!strings.Contains(out, "host host") || !strings.Contains(out, "none null") {
		t.Fatalf("docker network ls lacks bridge, host or none:\n%s", out)
	}
	id1 := runSleeper(h, "box1")
	id2 := runSleeper(h, "box2")
	ip1, ip2 := ipOf(h, "box1"), ipOf(h, "box2")
	if ip1 == ip2 {
		t.Fatalf("box1 and box2 share address %s", ip1)
	}

	t.Run("ping", func(t *testing.T) {
		for _, c := range [][2]string{{"box1", ip2}, {"box2", ip1}} {
			if r := h.Docker("exec", c[0], "ping", "-c", "1", "-W", "2", c[1]); r.Code != 0 {
				t.Fatalf("docker exec %s ping %s: %v", c[0], c[1], r)
			}
		}
		for _, ip := range []string{ip1, ip2} {
			if r := h.Sh("ping -c 1 -W 2 " + ip); r.Code != 0 {
				t.Fatalf("host ping %s: %v", ip, r)
			}
		}
	})

	t.Run("ip a", func(t *testing.T) {
		ins := inspect(h, "box1")
		out := h.Must("exec", "box1", "ip", "a")
		mustContain(t, "docker exec box1 ip a", out, "eth0", "inet "+ip1+"/"+itoa(ins.NetworkSettings.IPPrefixLen),
			strings.ToLower(ins.NetworkSettings.MacAddress), "lo")
		route := h.Must("exec", "box1", "ip", "route")
		mustContain(t, "docker exec box1 ip route", route, "default via "+ins.NetworkSettings.Gateway+" dev eth0")
	})

	t.Run("bridge ports", func(t *testing.T) {
		want := map[string]string{"box1": "b-" + id1[:8] + "-0", "box2": "b-" + id2[:8] + "-0"}
		ports := bridgePorts(h, "berth0")
		for name, ifname := range want {
			if got := hostIfOf(h, name); got != ifname {
				t.Fatalf("inspect %s DriverOpts berth.host_interface = %q, want %q", name, got, ifname)
			}
			if !contains(ports, ifname) {
				t.Fatalf("ip link show master berth0 = %v, lacks %s (%s)", ports, ifname, name)
			}
		}
		brctl := h.MustSh("brctl show berth0")
		link := h.MustSh("bridge link")
		for _, ifname := range want {
			mustContain(t, "brctl show berth0", brctl, ifname)
			mustContain(t, "bridge link", link, ifname+"@")
		}
		if n := strings.Count(link, "master berth0"); n != 2 {
			t.Fatalf("bridge link shows %d ports on berth0, want 2:\n%s", n, link)
		}
		// The host end's alias says whose port it is.
		mustContain(t, "ip link show "+want["box1"], h.MustSh("ip link show "+want["box1"]), "box1")
	})

	t.Run("httpd", func(t *testing.T) {
		h.Must("run", "-d", "--name", "web", "busybox", "sh", "-c",
			"mkdir -p /srv/www && echo hello-from-berth > /srv/www/index.html && exec httpd -f -p 80 -h /srv/www")
		web := ipOf(h, "web")
		var r harness.Result
		harness.WaitFor(t, "wget from the host", 5*time.Second, func() bool {
			r = h.Sh("wget -q -T 2 -O - http://" + web + "/")
			return r.Code == 0
		})
		if strings.TrimSpace(r.Stdout) != "hello-from-berth" {
			t.Fatalf("wget http://%s/ = %v", web, r)
		}
	})

	t.Run("network inspect", func(t *testing.T) {
		var nets []struct {
			Name, ID, Driver string
			IPAM             struct {
				Driver string
				Config []struct{ Subnet, Gateway string }
			}
			Containers map[string]struct {
				Name, EndpointID, MacAddress, IPv4Address string
			}
			Options map[string]string
		}
		raw := h.Must("network", "inspect", "bridge")
		if err := json.Unmarshal([]byte(raw), &nets); err != nil || len(nets) != 1 {
			t.Fatalf("docker network inspect bridge: %v\n%s", err, raw)
		}
		n := nets[0]
		if n.Name != "bridge" || n.Driver != "bridge" || len(n.ID) != 64 {
			t.Fatalf("network inspect bridge: name %q driver %q id %q", n.Name, n.Driver, n.ID)
		}
		if len(n.IPAM.Config) != 1 {
			t.Fatalf("network inspect bridge: IPAM.Config = %+v, want one subnet", n.IPAM.Config)
		}
		subnet, err := netip.ParsePrefix(n.IPAM.Config[0].Subnet)
		if err != nil {
			t.Fatalf("IPAM.Config[0].Subnet = %q: %v", n.IPAM.Config[0].Subnet, err)
		}
		ins := inspect(h, "box1")
		if n.IPAM.Config[0].Gateway != ins.NetworkSettings.Gateway {
			t.Fatalf("IPAM gateway %q, container gateway %q", n.IPAM.Config[0].Gateway, ins.NetworkSettings.Gateway)
		}
		if n.Options["com.docker.network.bridge.name"] != "berth0" {
			t.Fatalf("Options = %v, want com.docker.network.bridge.name=berth0", n.Options)
		}
		for _, c := range []struct{ name, id string }{{"box1", id1}, {"box2", id2}} {
			e, ok := n.Containers[c.id]
			if !ok {
				t.Fatalf("network inspect bridge: Containers lacks %s (%s): %+v", c.name, c.id, n.Containers)
			}
			ins := inspect(h, c.name)
			ep := ins.NetworkSettings.Networks["bridge"]
			a, err := netip.ParsePrefix(e.IPv4Address)
			if err != nil || !subnet.Contains(a.Addr()) || a.Addr().String() != ep.IPAddress || a.Bits() != subnet.Bits() {
				t.Fatalf("%s IPv4Address = %q, want %s/%d in %s", c.name, e.IPv4Address, ep.IPAddress, subnet.Bits(), subnet)
			}
			if e.Name != c.name || e.EndpointID == "" || e.EndpointID != ep.EndpointID {
				t.Fatalf("%s: network inspect entry %+v, container endpoint %q", c.name, e, ep.EndpointID)
			}
			if want := dockerMAC(a.Addr()); e.MacAddress != want || ep.MacAddress != want {
				t.Fatalf("%s MacAddress = %q (network) %q (container), want %q", c.name, e.MacAddress, ep.MacAddress, want)
			}
		}
	})

	t.Run("container inspect", func(t *testing.T) {
		ins := inspect(h, "box1")
		ns := ins.NetworkSettings
		ep, ok := ns.Networks["bridge"]
		if !ok {
			t.Fatalf("NetworkSettings.Networks lacks bridge: %+v", ns.Networks)
		}
		if ns.IPAddress != ip1 || ep.IPAddress != ip1 || ns.Gateway == "" || ns.Gateway != ep.Gateway ||
			ns.IPPrefixLen == 0 || ns.IPPrefixLen != ep.IPPrefixLen || ns.MacAddress != ep.MacAddress ||
			ep.NetworkID == "" || ep.EndpointID == "" {
			t.Fatalf("NetworkSettings = %+v, want IPAddress %s matching Networks.bridge", ns, ip1)
		}
		if !strings.HasPrefix(ns.MacAddress, "02:42:") {
			t.Fatalf("MacAddress = %q, want 02:42:...", ns.MacAddress)
		}
		if ns.SandboxKey == "" {
			t.Fatalf("SandboxKey is empty")
		}
		if r := harness.RunCmd(t.Context(), "", nil, "nsenter", "--net="+ns.SandboxKey, "ip", "-o", "addr", "show", "eth0"); !strings.Contains(r.Stdout, ip1+"/") {
			t.Fatalf("SandboxKey %s is not box1's namespace: %v", ns.SandboxKey, r)
		}
	})
}

// TestOutsideWorld checks the way out (masquerade) and the way in (none
// without a published port) with an "internet" machine and a neighbour.
func TestOutsideWorld(t *testing.T) {
	h := harness.NewHost(t)
	inet := h.AddMachine("10.77.1")
	srv := inet.Spawn(harness.Env.Netkit, "echo", "-l", ":7000", "-banner")
	srv.WaitOutput(t, "listening on", 5*time.Second)

	h.Must("run", "-d", "--name", "app", "busybox", "netkit", "echo", "-l", ":7001", "-banner")
	waitListening(h, "app")
	app := ipOf(h, "app")

	t.Run("masquerade", func(t *testing.T) {
		r := dialFrom(h, "app", inet.Addr+":7000")
		if r.Code != 0 {
			t.Fatalf("app dials the internet machine: %v", r)
		}
		if src := bannerSource(r.Stdout); src != inet.HostIP {
			t.Fatalf("internet machine saw source %q (%q), want the host's link address %s", src, r.Stdout, inet.HostIP)
		}
		mustNotContain(t, "internet machine's log", srv.Output(), app+":")
		// A one-shot container reaches it too (the start path, not only exec).
		if r := h.Docker("run", "--rm", "busybox", "netkit", "dial", "-t", "3s", inet.Addr+":7000"); bannerSource(r.Stdout) != inet.HostIP {
			t.Fatalf("docker run --rm ... netkit dial: %v", r)
		}
	})

	t.Run("no way in", func(t *testing.T) {
		subnet := h.Must("network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", "bridge")
		nb := h.AddMachine("10.77.2")
		if r := nb.Sh("ip route add " + subnet + " via " + nb.HostIP); r.Code != 0 {
			t.Fatalf("route the bridge subnet via the host: %v", r)
		}
		// The route works: the gateway (a host address) answers.
		gw := inspect(h, "app").NetworkSettings.Gateway
		if r := nb.Sh("ping -c 1 -W 2 " + gw); r.Code != 0 {
			t.Fatalf("neighbour cannot even reach the bridge gateway %s: %v", gw, r)
		}
		if r := nb.Sh("ping -c 1 -W 1 " + app); r.Code == 0 {
			t.Fatalf("neighbour pings container %s: %v", app, r)
		}
		if r := nb.Sh(harness.Env.Netkit + " dial -t 1s " + app + ":7001"); r.Code == 0 {
			t.Fatalf("neighbour connects to container %s:7001: %v", app, r)
		}
		// The container still reaches the neighbour (the way out is open).
		if r := dialFrom(h, "app", inet.Addr+":7000"); r.Code != 0 {
			t.Fatalf("app after the neighbour's attempts: %v", r)
		}
	})
}

// TestNetworkModes covers --network none, host and container:<name>.
func TestNetworkModes(t *testing.T) {
	h := harness.NewHost(t)
	h.MustSh("ip link add hostdummy0 type veth peer name hostdummy1 && ip addr add 10.99.0.1/24 dev hostdummy0")

	out := h.Must("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link")
	if links := linkNames(out); len(links) != 1 || links[0] != "lo" {
		t.Fatalf("--network none: links %v, want only lo\n%s", links, out)
	}
	if st := h.Must("run", "--rm", "--network", "none", "busybox", "cat", "/sys/class/net/lo/operstate"); st == "down" {
		t.Fatalf("--network none: lo is down")
	}

	out = h.Must("run", "--rm", "--network", "host", "busybox", "ip", "-o", "addr")
	mustContain(t, "--network host: ip addr", out, "hostdummy0", "10.99.0.1/24", "berth0")

	runSleeper(h, "main")
	ip := ipOf(h, "main")
	out = h.Must("run", "--rm", "--network", "container:main", "busybox", "ip", "-o", "addr", "show", "eth0")
	mustContain(t, "--network container:main: ip addr show eth0", out, "inet "+ip+"/")
	id := h.Must("inspect", "-f", "{{.Id}}", "main")
	out = h.Must("run", "--rm", "--network", "container:"+id, "busybox", "cat", "/sys/class/net/eth0/address")
	if mac := h.Must("inspect", "-f", "{{.NetworkSettings.MacAddress}}", "main"); out != mac {
		t.Fatalf("--network container:<id>: eth0 MAC %q, main's %q", out, mac)
	}
	// A listener in one is reachable on the other's loopback.
	h.Must("run", "-d", "--name", "side", "--network", "container:main", "busybox", "netkit", "echo", "-l", "127.0.0.1:7002")
	waitListening(h, "side")
	if r := h.Docker("exec", "main", "netkit", "dial", "-t", "2s", "127.0.0.1:7002"); r.Code != 0 || !strings.Contains(r.Stdout, "PONG") {
		t.Fatalf("main reaches side's loopback listener: %v", r)
	}
	if r := h.Docker("run", "--rm", "--network", "container:nosuch", "busybox", "true"); r.Code == 0 {
		t.Fatalf("--network container:nosuch succeeded")
	}
}

// TestEtcFiles covers --dns, --dns-search, --dns-option, --add-host
// (host-gateway included), --hostname and --mac-address.
func TestEtcFiles(t *testing.T) {
	h := harness.NewHost(t)
	runSleeper(h, "named", "--hostname", "myhost", "--dns", "9.9.9.9", "--dns", "1.0.0.1",
		"--dns-search", "example.org", "--dns-option", "ndots:3", "--add-host", "x:1.2.3.4",
		"--add-host", "gw:host-gateway", "--mac-address", "02:00:00:aa:bb:cc")
	ip := ipOf(h, "named")
	gw := inspect(h, "named").NetworkSettings.Gateway

	resolv := h.Must("exec", "named", "cat", "/etc/resolv.conf")
	mustContain(t, "/etc/resolv.conf", resolv, "nameserver 9.9.9.9", "nameserver 1.0.0.1", "search example.org", "options ndots:3")
	if strings.Index(resolv, "9.9.9.9") > strings.Index(resolv, "1.0.0.1") {
		t.Fatalf("/etc/resolv.conf reorders --dns servers:\n%s", resolv)
	}
	hosts := h.Must("exec", "named", "cat", "/etc/hosts")
	if !regexp.MustCompile(`(?m)^1\.2\.3\.4\s+x$`).MatchString(hosts) {
		t.Fatalf("/etc/hosts lacks \"1.2.3.4 x\":\n%s", hosts)
	}
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(gw) + `\s+gw$`).MatchString(hosts) {
		t.Fatalf("/etc/hosts lacks host-gateway %s for gw:\n%s", gw, hosts)
	}
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(ip) + `\s+myhost\b`).MatchString(hosts) {
		t.Fatalf("/etc/hosts lacks the container's own %s myhost:\n%s", ip, hosts)
	}
	mustContain(t, "/etc/hosts", hosts, "localhost")
	if hn := h.Must("exec", "named", "hostname"); hn != "myhost" {
		t.Fatalf("hostname = %q, want myhost", hn)
	}
	if mac := h.Must("exec", "named", "cat", "/sys/class/net/eth0/address"); mac != "02:00:00:aa:bb:cc" {
		t.Fatalf("--mac-address: eth0 has %q", mac)
	}
	if mac := h.Must("inspect", "-f", "{{.NetworkSettings.MacAddress}}", "named"); mac != "02:00:00:aa:bb:cc" {
		t.Fatalf("--mac-address: inspect shows %q", mac)
	}
	// host-gateway answers: the host is reachable under that name.
	if r := h.Docker("exec", "named", "ping", "-c", "1", "-W", "2", "gw"); r.Code != 0 {
		t.Fatalf("ping host-gateway name: %v", r)
	}

	// Without flags: the container's own name, the host's upstreams.
	runSleeper(h, "plain")
	hosts = h.Must("exec", "plain", "cat", "/etc/hosts")
	short := h.Must("inspect", "-f", "{{.Config.Hostname}}", "plain")
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(ipOf(h, "plain")) + `\s+` + short).MatchString(hosts) {
		t.Fatalf("/etc/hosts of plain lacks its address and hostname %s:\n%s", short, hosts)
	}
	resolv = h.Must("exec", "plain", "cat", "/etc/resolv.conf")
	mustContain(t, "/etc/resolv.conf", resolv, "nameserver ")
	mustNotContain(t, "/etc/resolv.conf (loopback stubs do not work in a container)", resolv, "nameserver 127.")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func linkNames(ipOLink string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(ipOLink), "\n") {
		f := strings.Fields(l)
		if len(f) > 1 {
			name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			out = append(out, name)
		}
	}
	return out
}

func dockerMAC(a netip.Addr) string {
	b := a.As4()
	return "02:42:" + hex2(b[0]) + ":" + hex2(b[1]) + ":" + hex2(b[2]) + ":" + hex2(b[3])
}

func hex2(b byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>4], digits[b&15]})
}
