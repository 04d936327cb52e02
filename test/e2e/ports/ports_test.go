// Package ports holds the end-to-end tests of published ports (issue 6):
// DNAT in the kernel for other machines, the host and hairpin traffic,
// 127.0.0.1 safety, reservations and their errors, ranges, UDP, and
// restoring mappings across daemon restarts, through the docker CLI.
package ports

import (
	"encoding/json"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-project/berth/test/e2e/harness"
)

// TestPublishTCP is the seed's redis: -p 6379:6379, reached from a client
// machine through the host's address.
func TestPublishTCP(t *testing.T) {
	h := harness.NewHost(t)
	client := h.AddMachine("10.77.1")
	hostAddr := client.HostIP + ":6379"
	runServer(h, "redis", []string{"-p", "6379:6379"}, "echo", "-l", ":6379", "-banner")

	t.Run("from another machine", func(t *testing.T) {
		r := dial(client, hostAddr)
		if r.Code != 0 {
			t.Fatalf("client dials %s: %v", hostAddr, r)
		}
		if src := bannerSource(r.Stdout); src != client.Addr {
			t.Fatalf("redis saw source %q, want the client's own %s (%v)", src, client.Addr, r)
		}
		r = dial(client, hostAddr, "-lines", "2")
		mustContain(t, "PING through the published port", r.Stdout, "+PONG")
	})

	t.Run("from the host", func(t *testing.T) {
		for _, a := range []string{hostAddr, "127.0.0.1:6379"} {
			if r := dialHost(h, a); r.Code != 0 || bannerSource(r.Stdout) == "" {
				t.Fatalf("host dials %s: %v", a, r)
			}
		}
	})

	t.Run("hairpin", func(t *testing.T) {
		if r := h.Docker("exec", "redis", "netkit", "dial", "-t", "2s", hostAddr); r.Code != 0 || bannerSource(r.Stdout) == "" {
			t.Fatalf("redis reaches its own published port through %s: %v", hostAddr, r)
		}
		r := h.Docker("run", "--rm", "busybox", "netkit", "dial", "-t", "2s", hostAddr)
		if r.Code != 0 || bannerSource(r.Stdout) == "" {
			t.Fatalf("a neighbour reaches redis through %s: %v", hostAddr, r)
		}
	})

	t.Run("port and inspect", func(t *testing.T) {
		ports := dockerPort(h, "redis")
		if len(ports["6379/tcp"]) == 0 || ports["6379/tcp"][0] != "0.0.0.0:6379" {
			t.Fatalf("docker port redis = %v, want 6379/tcp -> 0.0.0.0:6379", ports)
		}
		var ins []struct {
			HostConfig struct {
				PortBindings map[string][]struct{ HostIp, HostPort string }
			}
			NetworkSettings struct {
				Ports map[string][]struct{ HostIp, HostPort string }
			}
		}
		if err := json.Unmarshal([]byte(h.Must("inspect", "redis")), &ins); err != nil || len(ins) != 1 {
			t.Fatalf("inspect redis: %v", err)
		}
		pb := ins[0].HostConfig.PortBindings["6379/tcp"]
		if len(pb) != 1 || pb[0].HostPort != "6379" || pb[0].HostIp != "" {
			t.Fatalf("HostConfig.PortBindings = %+v", ins[0].HostConfig.PortBindings)
		}
		np := ins[0].NetworkSettings.Ports["6379/tcp"]
		if len(np) == 0 || np[0].HostPort != "6379" || np[0].HostIp != "0.0.0.0" {
			t.Fatalf("NetworkSettings.Ports = %+v", ins[0].NetworkSettings.Ports)
		}
	})

	t.Run("already allocated", func(t *testing.T) {
		maps, veths := allMaps(h), bridgePorts(h)
		r := h.Docker("run", "-d", "--name", "redis2", "-p", "6379:6379", "busybox", "sleep", "300")
		if r.Code == 0 || !strings.Contains(r.Stderr, "Bind for 0.0.0.0:6379 failed: port is already allocated") {
			t.Fatalf("second -p 6379:6379: %v", r)
		}
		assertNothingLeft(t, h, "redis2", maps, veths)
		if r := dial(client, hostAddr); bannerSource(r.Stdout) != client.Addr {
			t.Fatalf("redis after the failed second publish: %v", r)
		}
	})

	t.Run("bound by another program", func(t *testing.T) {
		p := h.Spawn(harness.Env.Netkit, "echo", "-l", ":7100")
		p.WaitOutput(t, "listening on", 5*time.Second)
		maps, veths := allMaps(h), bridgePorts(h)
		r := h.Docker("run", "-d", "--name", "taken", "-p", "7100:80", "busybox", "sleep", "300")
		if r.Code == 0 || !strings.Contains(r.Stderr, "0.0.0.0:7100") || !strings.Contains(r.Stderr, "already in use") {
			t.Fatalf("-p 7100:80 with 7100 bound by another program: %v", r)
		}
		assertNothingLeft(t, h, "taken", maps, veths)
	})

	t.Run("stop removes mappings", func(t *testing.T) {
		h.Must("stop", "-t", "1", "redis")
		start := time.Now()
		if r := dial(client, hostAddr); r.Code == 0 {
			t.Fatalf("client still reaches %s after docker stop: %v", hostAddr, r)
		}
		if took := time.Since(start); took > time.Second {
			t.Fatalf("dial after stop took %s: the port should be refused at once", took)
		}
		if m := allMaps(h); strings.Contains(m, "6379") {
			t.Fatalf("DNAT maps still hold 6379 after stop:\n%s", m)
		}
		// The port is free for others.
		p := h.Spawn(harness.Env.Netkit, "echo", "-l", ":6379")
		p.WaitOutput(t, "listening on", 5*time.Second)
		p.Stop()
		h.Must("start", "redis")
		waitLogs(h, "redis", "listening on", 2)
		if r := dial(client, hostAddr); bannerSource(r.Stdout) != client.Addr {
			t.Fatalf("client after docker start redis: %v", r)
		}
	})
}

// assertNothingLeft checks that a failed publish of container name left no
// running container, DNAT element or bridge port.
func assertNothingLeft(t *testing.T, h *harness.Host, name, maps string, veths int) {
	t.Helper()
	if ps := h.Must("ps", "--format", "{{.Names}}"); strings.Contains(ps, name) {
		t.Fatalf("%s runs after a failed publish:\n%s", name, ps)
	}
	if got := allMaps(h); got != maps {
		t.Fatalf("DNAT maps changed after a failed publish:\nbefore:\n%s\nafter:\n%s", maps, got)
	}
	if n := bridgePorts(h); n != veths {
		t.Fatalf("berth0 has %d ports after a failed publish, had %d", n, veths)
	}
	h.Docker("rm", "-f", name)
}

// TestPublishOnOneAddress covers -p 127.0.0.1:8080:80 (the host only, never
// another machine, even one routing 127.0.0.0/8 to the host) and a port
// published on one link address (not reachable on another).
func TestPublishOnOneAddress(t *testing.T) {
	h := harness.NewHost(t)
	client := h.AddMachine("10.77.1")
	other := h.AddMachine("10.77.2")
	h.Must("run", "-d", "--name", "web", "-p", "127.0.0.1:8080:80", "-p", client.HostIP+":8081:80", "busybox", "sh", "-c",
		"mkdir -p /www && echo hello-web > /www/index.html && exec httpd -f -p 80 -h /www")
	harness.WaitFor(t, "web to serve", 5*time.Second, func() bool {
		return h.Sh("timeout 3 wget -q -T 1 -O - http://127.0.0.1:8080/").Code == 0
	})

	if r := h.Sh("timeout 3 wget -q -T 2 -O - http://127.0.0.1:8080/"); strings.TrimSpace(r.Stdout) != "hello-web" {
		t.Fatalf("host wget 127.0.0.1:8080: %v", r)
	}
	if r := h.Sh("timeout 3 wget -q -T 2 -O - http://" + client.HostIP + ":8080/"); r.Code == 0 {
		t.Fatalf("port published on 127.0.0.1 answers on %s: %v", client.HostIP, r)
	}

	// A client that routes 127.0.0.0/8 to the host (moby#45610).
	client.Sh("ip addr flush dev lo && ip link set lo down")
	if r := client.Sh("sysctl -qw net.ipv4.conf.all.route_localnet=1 net.ipv4.conf.mv0.route_localnet=1 && ip route add 127.0.0.0/8 via " + client.HostIP); r.Code != 0 {
		t.Fatalf("client: route 127.0.0.0/8 via the host: %v", r)
	}
	if r := client.Sh("ip route get 127.0.0.1"); !strings.Contains(r.Stdout, "via "+client.HostIP) {
		t.Fatalf("client does not route 127.0.0.1 via the host: %v", r)
	}
	// Count what arrives, so the test knows the packets reached the host.
	h.MustSh(`nft add table ip e2e && nft add chain ip e2e pre '{ type filter hook prerouting priority -400; }' && ` +
		`nft add rule ip e2e pre iifname hv0 ip daddr 127.0.0.1 tcp dport 8080 counter`)
	r := dial(client, "127.0.0.1:8080", "-send", `GET / HTTP/1.0\r\n\r\n`)
	if r.Code == 0 {
		t.Fatalf("client reaches 127.0.0.1:8080 through the host: %v", r)
	}
	if out := h.MustSh("nft list chain ip e2e pre"); !regexp.MustCompile(`counter packets [1-9]`).MatchString(out) {
		t.Fatalf("the client's packets to 127.0.0.1:8080 never reached the host (%v); the check proves nothing:\n%s", r, out)
	}

	// 8081 is published on the first link's host address only.
	if r := client.Sh("timeout 3 wget -q -T 2 -O - http://" + client.HostIP + ":8081/"); strings.TrimSpace(r.Stdout) != "hello-web" {
		t.Fatalf("client wget %s:8081: %v", client.HostIP, r)
	}
	if r := other.Sh("timeout 3 wget -q -T 2 -O - http://" + other.HostIP + ":8081/"); r.Code == 0 {
		t.Fatalf("port published on %s answers on %s: %v", client.HostIP, other.HostIP, r)
	}
	if r := h.Sh("timeout 3 wget -q -T 2 -O - http://127.0.0.1:8081/"); r.Code == 0 {
		t.Fatalf("port published on %s answers on 127.0.0.1: %v", client.HostIP, r)
	}
	ports := dockerPort(h, "web")
	if got := strings.Join(ports["80/tcp"], ","); !strings.Contains(got, "127.0.0.1:8080") || !strings.Contains(got, client.HostIP+":8081") {
		t.Fatalf("docker port web = %v", ports)
	}
}

// TestPublishAllUDPAndRanges covers -P with --expose, UDP, a 1000-port
// range, a shifted range and a host range for one container port.
func TestPublishAllUDPAndRanges(t *testing.T) {
	h := harness.NewHost(t)
	client := h.AddMachine("10.77.1")

	t.Run("-P", func(t *testing.T) {
		h.Must("run", "-d", "--name", "all", "-P", "--expose", "80", "--expose", "81", "busybox", "sh", "-c",
			"netkit echo -l :80 -banner & netkit echo -l :81 -banner & wait")
		waitLogs(h, "all", "listening on", 2)
		ports := dockerPort(h, "all")
		p80, p81 := ports["80/tcp"], ports["81/tcp"]
		if len(p80) == 0 || len(p81) == 0 {
			t.Fatalf("docker port all = %v, want 80/tcp and 81/tcp", ports)
		}
		a, b := portOf(p80[0]), portOf(p81[0])
		if a == b || a < 32768 || b < 32768 {
			t.Fatalf("-P picked %d and %d: want two distinct ephemeral ports", a, b)
		}
		for _, p := range []int{a, b} {
			addr := client.HostIP + ":" + itoa(p)
			if r := dial(client, addr); bannerSource(r.Stdout) != client.Addr {
				t.Fatalf("client dials %s: %v", addr, r)
			}
		}
	})

	t.Run("random host ports", func(t *testing.T) {
		h.Must("run", "-d", "--name", "rnd", "-p", "7200", "-p", "127.0.0.1::7201", "busybox", "sh", "-c",
			"netkit echo -l :7200 -banner & netkit echo -l :7201 -banner & wait")
		waitLogs(h, "rnd", "listening on", 2)
		ports := dockerPort(h, "rnd")
		all, local := ports["7200/tcp"], ports["7201/tcp"]
		if len(all) == 0 || len(local) == 0 || !strings.HasPrefix(all[0], "0.0.0.0:") || !strings.HasPrefix(local[0], "127.0.0.1:") {
			t.Fatalf("docker port rnd = %v, want 7200/tcp on 0.0.0.0 and 7201/tcp on 127.0.0.1", ports)
		}
		if r := dial(client, client.HostIP+":"+itoa(portOf(all[0]))); bannerSource(r.Stdout) != client.Addr {
			t.Fatalf("client dials -p 7200's host port %s: %v", all[0], r)
		}
		if r := dialHost(h, local[0]); bannerSource(r.Stdout) == "" {
			t.Fatalf("host dials -p 127.0.0.1::7201's %s: %v", local[0], r)
		}
	})

	t.Run("udp", func(t *testing.T) {
		runServer(h, "dns", []string{"-p", "5353:5353/udp"}, "echo", "-l", ":5353", "-udp", "-banner")
		r := dial(client, client.HostIP+":5353", "-udp")
		if bannerSource(r.Stdout) != client.Addr {
			t.Fatalf("client UDP to %s:5353: %v", client.HostIP, r)
		}
		if r := dialHost(h, "127.0.0.1:5353", "-udp"); bannerSource(r.Stdout) == "" {
			t.Fatalf("host UDP to 127.0.0.1:5353: %v", r)
		}
		if got := dockerPort(h, "dns")["5353/udp"]; len(got) == 0 || got[0] != "0.0.0.0:5353" {
			t.Fatalf("docker port dns = %v", dockerPort(h, "dns"))
		}
	})

	t.Run("1000-port range", func(t *testing.T) {
		// The same run without ports is the baseline: on a loaded machine
		// the runtime alone can take a good part of a second.
		start := time.Now()
		h.Must("run", "-d", "--name", "baseline", "busybox", "sh", "-c", "sleep 300")
		baseline := time.Since(start)
		before := nsPids(h)
		start = time.Now()
		h.Must("run", "-d", "--name", "ranged", "-p", "20000-20999:20000-20999", "busybox", "sh", "-c",
			"netkit echo -l :20000 -banner & netkit echo -l :20999 -banner & wait")
		took := time.Since(start)
		t.Logf("docker run -d took %s with a 1000-port range, %s without ports", took, baseline)
		if took > baseline+300*time.Millisecond || took > 3*time.Second {
			t.Fatalf("docker run -d -p 20000-20999:20000-20999 took %s (%s without ports)", took, baseline)
		}
		if after := nsPids(h); after > before+1 {
			t.Fatalf("host namespace has %d processes after publishing 1000 ports, %d before (one shim expected)", after, before)
		}
		ip := ipOf(h, "ranged")
		if n := strings.Count(allMaps(h), ip); n != 1 {
			t.Fatalf("DNAT maps hold %d elements for %s, want 1:\n%s", n, ip, allMaps(h))
		}
		mustContain(t, "dnat4_keepport", nftMap(h, "dnat4_keepport"), "20000-20999", ip)
		waitLogs(h, "ranged", "listening on", 2)
		for _, p := range []string{"20000", "20999"} {
			if r := dial(client, client.HostIP+":"+p); bannerSource(r.Stdout) != client.Addr {
				t.Fatalf("client dials %s:%s: %v", client.HostIP, p, r)
			}
		}
		if n := len(dockerPort(h, "ranged")); n != 1000 {
			t.Fatalf("docker port ranged lists %d ports, want 1000", n)
		}
		h.Must("rm", "-f", "ranged")
		if strings.Contains(allMaps(h), ip) {
			t.Fatalf("DNAT maps still hold %s after rm -f", ip)
		}
	})

	t.Run("shifted range", func(t *testing.T) {
		h.Must("run", "-d", "--name", "shifted", "-p", "8000-8009:9000-9009", "busybox", "sh", "-c",
			"netkit echo -l :9000 -banner & netkit echo -l :9005 -banner & wait")
		waitLogs(h, "shifted", "listening on", 2)
		for _, p := range []string{"8000", "8005"} {
			if r := dial(client, client.HostIP+":"+p); bannerSource(r.Stdout) != client.Addr {
				t.Fatalf("client dials %s:%s (-> 9%s): %v", client.HostIP, p, p[1:], r)
			}
		}
		if r := dial(client, client.HostIP+":8001"); r.Code == 0 {
			t.Fatalf("8001 must go to 9001, where nothing listens; it answered: %v", r)
		}
		if got := dockerPort(h, "shifted")["9005/tcp"]; len(got) == 0 || got[0] != "0.0.0.0:8005" {
			t.Fatalf("docker port shifted = %v", dockerPort(h, "shifted"))
		}
	})

	t.Run("host range for one port", func(t *testing.T) {
		runServer(h, "one", []string{"-p", "8100-8110:80"}, "echo", "-l", ":80", "-banner")
		runServer(h, "two", []string{"-p", "8100-8110:80"}, "echo", "-l", ":80", "-banner")
		p1, p2 := dockerPort(h, "one")["80/tcp"], dockerPort(h, "two")["80/tcp"]
		if len(p1) == 0 || len(p2) == 0 || p1[0] == p2[0] {
			t.Fatalf("docker port: one %v, two %v: want distinct ports in 8100-8110", p1, p2)
		}
		for _, p := range []string{p1[0], p2[0]} {
			if n := portOf(p); n < 8100 || n > 8110 {
				t.Fatalf("host port %d outside 8100-8110", n)
			}
			if r := dial(client, client.HostIP+":"+itoa(portOf(p))); bannerSource(r.Stdout) != client.Addr {
				t.Fatalf("client dials %s: %v", p, r)
			}
		}
	})
}

// TestRestoreMappings restarts the daemon (SIGTERM, then SIGKILL) with
// published ports: they keep working and stay reserved.
func TestRestoreMappings(t *testing.T) {
	h := harness.NewHost(t)
	client := h.AddMachine("10.77.1")
	runServer(h, "redis", []string{"-p", "6379:6379", "-p", "127.0.0.1:6380:6379"}, "echo", "-l", ":6379", "-banner")
	check := func(when string) {
		t.Helper()
		if r := dial(client, client.HostIP+":6379"); bannerSource(r.Stdout) != client.Addr {
			t.Fatalf("%s: client dials %s:6379: %v", when, client.HostIP, r)
		}
		if r := dialHost(h, "127.0.0.1:6380"); bannerSource(r.Stdout) == "" {
			t.Fatalf("%s: host dials 127.0.0.1:6380: %v", when, r)
		}
		r := h.Docker("run", "-d", "--name", "thief", "-p", "6379:6379", "busybox", "sleep", "300")
		if r.Code == 0 || !strings.Contains(r.Stderr, "port is already allocated") {
			t.Fatalf("%s: a second -p 6379:6379: %v", when, r)
		}
		h.Docker("rm", "-f", "thief")
		if r := h.Sh(harness.Env.Netkit + " echo -l :6379 & p=$!; sleep 0.3; kill $p"); !strings.Contains(r.Stderr+r.Stdout, "address already in use") {
			t.Fatalf("%s: another program could bind 6379 on the host: %v", when, r)
		}
	}
	check("before restart")
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		h.StopDaemon(sig)
		if r := dial(client, client.HostIP+":6379"); bannerSource(r.Stdout) != client.Addr {
			t.Fatalf("while no daemon runs (%v): %v", sig, r)
		}
		// What a crash between installing a mapping and recording it
		// leaves: an element for a container that does not exist.
		h.MustSh("nft add element inet berth dnat4_any '{ tcp . 7777 : 172.17.0.250 . 80 }'")
		h.StartDaemon()
		check("after " + sig.String())
		if m := allMaps(h); strings.Contains(m, "7777") {
			t.Fatalf("after %v, a stale DNAT element survived the restart:\n%s", sig, m)
		}
	}
	h.Must("rm", "-f", "redis")
	if r := dial(client, client.HostIP+":6379"); r.Code == 0 {
		t.Fatalf("client reaches 6379 after rm -f: %v", r)
	}
	if m := allMaps(h); strings.Contains(m, "6379") || strings.Contains(m, "6380") {
		t.Fatalf("DNAT maps after rm -f:\n%s", m)
	}
}

// nsPids counts the processes in the host's network namespace.
func nsPids(h *harness.Host) int {
	h.T().Helper()
	r := harness.RunCmd(h.T().Context(), "", nil, "ip", "netns", "pids", h.Name)
	return len(strings.Fields(r.Stdout))
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// TestPublishIPv6 publishes ports of a container on a dual-stack network:
// on every address (both families) and on one IPv6 host address.
func TestPublishIPv6(t *testing.T) {
	h := harness.NewHost(t)
	client := h.AddMachine("10.77.1")
	h.MustSh("ip addr add fd77::1/64 dev hv0 nodad")
	if r := client.Sh("ip addr add fd77::2/64 dev mv0 nodad && ip -6 route add default via fd77::1"); r.Code != 0 {
		t.Fatalf("client IPv6 setup: %v", r)
	}
	h.Must("network", "create", "--ipv6", "--subnet", "fd00:1::/64", "v6net")
	runServer(h, "v6", []string{"--network", "v6net", "-p", "8090:80", "-p", "[fd77::1]:8091:80"}, "echo", "-l", ":80", "-banner")
	// The very first connection must not wait: the bridge's link-local
	// address, which neighbour solicitations for forwarded packets come
	// from, is there before the bridge has carrier (without it: 1-3 s).
	for _, a := range []string{"[fd77::1]:8090", "[fd77::1]:8091"} {
		r := dial(client, a, "-t", "1s")
		if !strings.Contains(r.Stdout, "from [fd77::2]:") {
			t.Fatalf("client dials %s: %v; want the server to see the client's own fd77::2", a, r)
		}
	}
	if r := dial(client, client.HostIP+":8090"); bannerSource(r.Stdout) != client.Addr {
		t.Fatalf("client dials %s:8090 over IPv4: %v", client.HostIP, r)
	}
	if r := dial(client, client.HostIP+":8091"); r.Code == 0 {
		t.Fatalf("port published on [fd77::1] answers on %s: %v", client.HostIP, r)
	}
	h.Must("rm", "-f", "v6")
	if m := allMaps(h); strings.Contains(m, "fd00:1::") {
		t.Fatalf("DNAT maps after rm -f:\n%s", m)
	}
}
