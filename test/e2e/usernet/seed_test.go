package usernet

import (
	"strings"
	"testing"

	"github.com/berth-project/berth/test/e2e/harness"
)

// TestSeedRedisByName is the seed's flask + redis pair: the app finds redis
// on a user-defined network by name and by alias; a container on another
// network neither resolves nor reaches it until it is connected, and not
// after it is disconnected; a rename is followed at once.
func TestSeedRedisByName(t *testing.T) {
	t.Parallel()
	h := harness.NewHost(t)
	h.Must("network", "create", "appnet")
	h.Must("network", "create", "othernet")
	runDetached(h, append([]string{"--name", "redis", "--network", "appnet", "--network-alias", "cache", "busybox"}, redisCmd...)...)
	runDetached(h, append([]string{"--name", "app", "--network", "appnet", "busybox"}, sleeper...)...)
	runDetached(h, append([]string{"--name", "app2", "--network", "othernet", "busybox"}, sleeper...)...)
	redisIP := ipOf(t, h, "redis", "appnet")

	mustReach(t, h, "app", "redis:6379")
	mustReach(t, h, "app", "cache:6379")
	mustResolve(t, h, "app", "redis", redisIP)
	mustResolve(t, h, "app", "cache", redisIP)
	id := inspectContainer(t, h, "redis").ID
	mustResolve(t, h, "app", id[:12], redisIP)
	if r := h.Docker("exec", "app", "nslookup", redisIP); r.Code != 0 || !strings.Contains(r.Stdout, "redis") {
		t.Fatalf("app: reverse lookup of %s: %v, want the name redis", redisIP, r)
	}
	if r := h.Docker("exec", "app", "cat", "/etc/resolv.conf"); !strings.Contains(r.Stdout, "nameserver ") {
		t.Fatalf("app's /etc/resolv.conf has no nameserver: %v", r)
	}

	// Another network: no name, no route.
	mustNotResolve(t, h, "app2", "redis")
	mustNotResolve(t, h, "app2", "cache")
	mustNotReach(t, h, "app2", redisIP+":6379")

	// Connected while running: a new interface at once, then name and route.
	h.Must("network", "connect", "appnet", "app2")
	if r := h.Docker("exec", "app2", "ip", "-o", "addr", "show", "eth1"); r.Code != 0 || !strings.Contains(r.Stdout, "inet ") {
		t.Fatalf("app2 has no eth1 with an address right after network connect: %v", r)
	}
	mustReach(t, h, "app2", "redis:6379")
	mustReach(t, h, "app2", "cache:6379")
	if got := inspectContainer(t, h, "app2").NetworkSettings.Networks; len(got) != 2 {
		t.Fatalf("app2 inspect shows networks %v, want appnet and othernet", keys(got))
	}

	// Disconnected: the interface, the name and the route go at once.
	h.Must("network", "disconnect", "appnet", "app2")
	if r := h.Docker("exec", "app2", "ip", "link", "show", "eth1"); r.Code == 0 {
		t.Fatalf("eth1 still in app2 after network disconnect: %v", r)
	}
	mustNotResolve(t, h, "app2", "redis")
	mustNotReach(t, h, "app2", redisIP+":6379")

	// Rename: the new name resolves, the old one does not.
	h.Must("rename", "redis", "redis2")
	mustReach(t, h, "app", "redis2:6379")
	mustNotResolve(t, h, "app", "redis")
	mustReach(t, h, "app", "cache:6379")
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestDisconnectFirstNetwork disconnects a running container from the
// network that holds its default route and resolver: as in Docker, its
// other network takes both over at once.
func TestDisconnectFirstNetwork(t *testing.T) {
	t.Parallel()
	h := harness.NewHost(t)
	h.Must("network", "create", "appnet")
	h.Must("network", "create", "othernet")
	runDetached(h, append([]string{"--name", "redis", "--network", "othernet", "busybox"}, redisCmd...)...)
	runDetached(h, append([]string{"--name", "app", "--network", "appnet", "busybox"}, sleeper...)...)
	h.Must("network", "connect", "othernet", "app")
	mustReach(t, h, "app", "redis:6379")
	h.Must("network", "disconnect", "appnet", "app")
	gw := inspectContainer(t, h, "app").NetworkSettings.Networks["othernet"].Gateway
	if out := h.Must("exec", "app", "ip", "route"); !strings.Contains(out, "default via "+gw) {
		t.Fatalf("after disconnecting appnet, app's routes lack the default via othernet's gateway %s:\n%s", gw, out)
	}
	mustReach(t, h, "app", "redis:6379")
	// Disconnected from everything, then connected again: a way out again.
	h.Must("network", "disconnect", "othernet", "app")
	h.Must("network", "connect", "appnet", "app")
	if out := h.Must("exec", "app", "ip", "route"); !strings.Contains(out, "default via") {
		t.Fatalf("after reconnecting, app has no default route:\n%s", out)
	}
	h.Must("network", "connect", "othernet", "app")
	mustReach(t, h, "app", "redis:6379")
}

// TestResolverUnderLoad asks the embedded resolver for a container's name
// 10,000 times in a row from another container: none may fail. The median
// is logged (the target is under 100 µs; the benchmark measures it
// on a quiet machine).
func TestResolverUnderLoad(t *testing.T) {
	t.Parallel()
	h := harness.NewHost(t)
	h.Must("network", "create", "appnet")
	runDetached(h, append([]string{"--name", "redis", "--network", "appnet", "busybox"}, redisCmd...)...)
	runDetached(h, append([]string{"--name", "app", "--network", "appnet", "busybox"}, sleeper...)...)
	out := h.Must("exec", "app", "netkit", "dnsbench", "-n", "10000", "-name", "redis")
	if !strings.Contains(out, "n=10000 failures=0 ") {
		t.Fatalf("netkit dnsbench -n 10000 -name redis: %s", out)
	}
	t.Logf("embedded resolver, 10,000 queries for redis: %s", out)
}
