package usernet

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/test/e2e/harness"
)

// redisCmd is the seed's "redis" stand-in: a TCP echo that answers PING
// with +PONG like redis.
var redisCmd = []string{"netkit", "echo", "-l", ":6379"}

// sleeper keeps a container running without doing anything.
var sleeper = []string{"sleep", "600"}

// runDetached starts a container and returns its id.
func runDetached(h *harness.Host, args ...string) string {
	h.T().Helper()
	return h.Must(append([]string{"run", "-d"}, args...)...)
}

// dial asks container from to talk to target (host:port) the redis way:
// it sends PING and reports whether +PONG came back.
func dial(h *harness.Host, from, target string) harness.Result {
	return h.Docker("exec", from, "netkit", "dial", "-t", "1s", target)
}

func reaches(h *harness.Host, from, target string) bool {
	r := dial(h, from, target)
	return r.Code == 0 && strings.Contains(r.Stdout, "+PONG")
}

func mustReach(t *testing.T, h *harness.Host, from, target string) {
	t.Helper()
	if r := dial(h, from, target); r.Code != 0 || !strings.Contains(r.Stdout, "+PONG") {
		t.Fatalf("%s: netkit dial %s = %v, want +PONG", from, target, r)
	}
}

func mustNotReach(t *testing.T, h *harness.Host, from, target string) {
	t.Helper()
	if r := dial(h, from, target); r.Code == 0 {
		t.Fatalf("%s: netkit dial %s = %v, want a failure", from, target, r)
	}
}

var addrLine = regexp.MustCompile(`(?m)^Address(?: \d+)?:\s+(\S+)`)

// lookup runs busybox nslookup for name in container from and returns the
// answer addresses (the server's own address line is left out).
func lookup(h *harness.Host, from, name string) ([]string, harness.Result) {
	r := h.Docker("exec", from, "nslookup", name)
	if r.Code != 0 {
		return nil, r
	}
	_, answer, _ := strings.Cut(r.Stdout, "Name:")
	var out []string
	for _, m := range addrLine.FindAllStringSubmatch(answer, -1) {
		out = append(out, m[1])
	}
	return out, r
}

func mustResolve(t *testing.T, h *harness.Host, from, name string, want ...string) {
	t.Helper()
	got, r := lookup(h, from, name)
	if len(got) == 0 {
		t.Fatalf("%s: nslookup %s: no answer: %v", from, name, r)
	}
	for _, w := range want {
		if !contains(got, w) {
			t.Fatalf("%s: nslookup %s = %v, want %s among them (%v)", from, name, got, w, r)
		}
	}
}

func mustNotResolve(t *testing.T, h *harness.Host, from, name string) {
	t.Helper()
	if got, r := lookup(h, from, name); len(got) > 0 || r.Code == 0 {
		t.Fatalf("%s: nslookup %s = %v, want no answer (%v)", from, name, got, r)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// netInfo is the part of `docker network inspect` the tests read.
type netInfo struct {
	Name       string
	ID         string `json:"Id"`
	Driver     string
	EnableIPv6 bool
	Internal   bool
	Attachable bool
	IPAM       struct {
		Config []struct {
			Subnet             string
			IPRange            string
			Gateway            string
			AuxiliaryAddresses map[string]string
		}
	}
	Options    map[string]string
	Labels     map[string]string
	Containers map[string]struct {
		Name        string
		EndpointID  string
		MacAddress  string
		IPv4Address string
		IPv6Address string
	}
}

func inspectNetwork(t *testing.T, h *harness.Host, name string) netInfo {
	t.Helper()
	var out []netInfo
	if err := json.Unmarshal([]byte(h.Must("network", "inspect", name)), &out); err != nil || len(out) != 1 {
		t.Fatalf("docker network inspect %s: %v (%d results)", name, err, len(out))
	}
	return out[0]
}

// endpointInfo is one network of `docker inspect`'s NetworkSettings.
type endpointInfo struct {
	NetworkID           string
	EndpointID          string
	Gateway             string
	IPAddress           string
	IPPrefixLen         int
	IPv6Gateway         string
	GlobalIPv6Address   string
	GlobalIPv6PrefixLen int
	MacAddress          string
	Aliases             []string
	DNSNames            []string
}

type ctrInfo struct {
	ID     string `json:"Id"`
	Name   string
	Config struct {
		Hostname string
	}
	NetworkSettings struct {
		Networks map[string]endpointInfo
	}
}

func inspectContainer(t *testing.T, h *harness.Host, name string) ctrInfo {
	t.Helper()
	var out []ctrInfo
	if err := json.Unmarshal([]byte(h.Must("container", "inspect", name)), &out); err != nil || len(out) != 1 {
		t.Fatalf("docker container inspect %s: %v", name, err)
	}
	return out[0]
}

// ipOf returns the container's IPv4 address on network.
func ipOf(t *testing.T, h *harness.Host, ctr, network string) string {
	t.Helper()
	ep, ok := inspectContainer(t, h, ctr).NetworkSettings.Networks[network]
	if !ok || ep.IPAddress == "" {
		t.Fatalf("container %s has no address on %s", ctr, network)
	}
	return ep.IPAddress
}

// api sends one Engine API request at API version 1.47.
func api(t *testing.T, h *harness.Host, method, path, body string) (int, string) {
	t.Helper()
	return h.API(method, "/v1.47"+path, body)
}

// apiError checks that a request fails with status and a message that
// contains want.
func apiError(t *testing.T, h *harness.Host, method, path, body string, status int, want string) {
	t.Helper()
	code, resp := api(t, h, method, path, body)
	var msg struct{ Message string }
	json.Unmarshal([]byte(resp), &msg)
	if code != status || !strings.Contains(msg.Message, want) {
		t.Fatalf("%s %s %s = %d %s, want %d with message containing %q", method, path, body, code, resp, status, want)
	}
}

// dockerFails runs docker and checks that it fails with want in stderr.
func dockerFails(t *testing.T, h *harness.Host, want string, args ...string) {
	t.Helper()
	r := h.Docker(args...)
	if r.Code == 0 || !strings.Contains(r.Stderr, want) {
		t.Fatalf("docker %s = %v, want a failure saying %q", strings.Join(args, " "), r, want)
	}
}

// kernelState is what berth's networks leave in the host's kernel: links,
// addresses, nftables set elements and sockets listening on port 53. Two
// snapshots are equal when nothing was left behind in between.
func kernelState(t *testing.T, h *harness.Host) string {
	t.Helper()
	links := h.MustSh(`ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort`)
	// A bridge whose first port comes up gains a link-local address and
	// loses "linkdown"; neither is something left behind.
	addrs := h.MustSh(`ip -o addr show | awk '$4 !~ /^fe80:/ {print $2, $4}' | sort`)
	routes := h.MustSh(`{ ip route show; ip -6 route show; } | grep -v '^fe80\|^ff00\|^local\|^multicast' | sed 's/ linkdown//' || true`)
	// Set elements carry counters on some kernels; keep the rest.
	nft := h.Sh(`nft list table inet berth 2>/dev/null | sed 's/counter packets [0-9]* bytes [0-9]*//'`).Stdout
	dns := h.MustSh(`ss -Hlnu sport = :53; ss -Hlnt sport = :53`)
	return strings.Join([]string{"links:\n" + links, "addrs:\n" + addrs, "routes:\n" + routes,
		"nft:\n" + nft, "dns listeners:\n" + dns}, "\n")
}

// sameKernelState fails the test when the kernel differs from before.
func sameKernelState(t *testing.T, h *harness.Host, before, what string) {
	t.Helper()
	if after := kernelState(t, h); after != before {
		t.Fatalf("%s left something behind:\n%s", what, diffLines(before, after))
	}
}

func diffLines(a, b string) string {
	count := func(s string) map[string]int {
		m := map[string]int{}
		for _, l := range strings.Split(s, "\n") {
			m[l]++
		}
		return m
	}
	ma, mb := count(a), count(b)
	var out []string
	for l, n := range mb {
		if ma[l] < n {
			out = append(out, "+ "+l)
		}
	}
	for l, n := range ma {
		if mb[l] < n {
			out = append(out, "- "+l)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// upstreamDNS runs netkit's tiny DNS server on machine m (port 53), serving
// records ("name=ip"); it is stopped when the test ends.
func upstreamDNS(t *testing.T, m *harness.Machine, records ...string) {
	t.Helper()
	args := []string{harness.Env.Netkit, "dns-server", "-l", m.Addr + ":53"}
	for _, r := range records {
		args = append(args, "-a", r)
	}
	m.Spawn(args...).WaitOutput(t, "dns-server on", 5*time.Second)
}

// sh formats a shell command.
func sh(format string, a ...any) string { return fmt.Sprintf(format, a...) }
