package usernet

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/test/e2e/harness"
)

// TestErrors checks every network error a user can run into: the docker
// CLI's message and, through the API, Docker's status code. None of the
// failures leaves anything in the kernel.
func TestErrors(t *testing.T) {
	t.Parallel()
	h := harness.NewHost(t)
	h.Must("network", "create", "--subnet", "10.60.0.0/24", "appnet")
	h.Must("network", "create", "othernet")
	runDetached(h, append([]string{"--name", "redis", "--network", "appnet", "--ip", "10.60.0.10", "busybox"}, redisCmd...)...)
	runDetached(h, append([]string{"--name", "app", "--network", "appnet", "busybox"}, sleeper...)...)
	runDetached(h, append([]string{"--name", "loner", "--network", "othernet", "busybox"}, sleeper...)...)
	before := kernelState(t, h)

	t.Run("unknown network", func(t *testing.T) {
		dockerFails(t, h, "network nosuch not found", "network", "inspect", "nosuch")
		dockerFails(t, h, "network nosuch not found", "network", "rm", "nosuch")
		dockerFails(t, h, "network nosuch not found", "network", "connect", "nosuch", "app")
		dockerFails(t, h, "network nosuch not found", "network", "disconnect", "nosuch", "app")
		dockerFails(t, h, "network nosuch not found", "run", "--rm", "--network", "nosuch", "busybox", "true")
		apiError(t, h, "GET", "/networks/nosuch", "", 404, "network nosuch not found")
		apiError(t, h, "DELETE", "/networks/nosuch", "", 404, "network nosuch not found")
		apiError(t, h, "POST", "/networks/nosuch/connect", `{"Container":"app"}`, 404, "network nosuch not found")
		dockerFails(t, h, "No such container: ghost", "network", "connect", "appnet", "ghost")
	})
	t.Run("duplicate name", func(t *testing.T) {
		dockerFails(t, h, "network with name appnet already exists", "network", "create", "appnet")
		apiError(t, h, "POST", "/networks/create", `{"Name":"appnet"}`, 409, "network with name appnet already exists")
		apiError(t, h, "POST", "/networks/create", `{"Name":"bridge"}`, 409, "network with name bridge already exists")
		apiError(t, h, "POST", "/networks/create", `{"Name":"host"}`, 409, "network with name host already exists")
	})
	t.Run("invalid config", func(t *testing.T) {
		dockerFails(t, h, "invalid subnet 10.61.0.1/16: it should be 10.61.0.0/16", "network", "create", "--subnet", "10.61.0.1/16", "bad")
		for _, tc := range []struct {
			body   string
			status int
			want   string
		}{
			{`{"Name":"bad","IPAM":{"Config":[{"Subnet":"10.61.0.1/16"}]}}`, 400, "invalid subnet 10.61.0.1/16: it should be 10.61.0.0/16"},
			{`{"Name":"bad","IPAM":{"Config":[{"Subnet":"10.61.0.0/16","Gateway":"10.62.0.1"}]}}`, 400, "invalid gateway 10.62.0.1: parent subnet 10.61.0.0/16 doesn't contain this address"},
			{`{"Name":"bad","IPAM":{"Config":[{"Subnet":"10.61.0.0/16","IPRange":"10.62.0.0/24"}]}}`, 400, "invalid ip-range 10.62.0.0/24: parent subnet 10.61.0.0/16 doesn't contain ip-range"},
			{`{"Name":"bad","IPAM":{"Config":[{"Subnet":"10.61.0.0/24","IPRange":"10.61.0.0/16"}]}}`, 400, "invalid ip-range 10.61.0.0/16: CIDR block is bigger than its parent subnet 10.61.0.0/24"},
			{`{"Name":"bad","IPAM":{"Config":[{"Subnet":"10.61.0.0/16","AuxiliaryAddresses":{"printer":"10.62.0.9"}}]}}`, 400, "invalid auxiliary address printer: parent subnet 10.61.0.0/16 doesn't contain this address"},
			{`{"Name":"bad","IPAM":{"Config":[{"Subnet":"10.60.0.128/25"}]}}`, 400, "Pool overlaps with other one on this address space"},
			{`{"Name":"bad","Options":{"com.docker.network.driver.mtu":"lots"}}`, 400, "com.docker.network.driver.mtu"},
			{`{"Name":"bad","Options":{"com.docker.network.bridge.enable_icc":"maybe"}}`, 400, "com.docker.network.bridge.enable_icc"},
			{`{"Name":""}`, 400, "network name"},
			{`{"Name":"bad","Driver":"overlay2"}`, 404, `plugin "overlay2" not found`},
		} {
			apiError(t, h, "POST", "/networks/create", tc.body, tc.status, tc.want)
		}
		dockerFails(t, h, "no matching subnet for gateway", "network", "create", "--subnet", "10.61.0.0/16", "--gateway", "10.62.0.1", "bad")
		if out := h.Must("network", "ls", "-q", "--filter", "name=bad"); out != "" {
			t.Fatalf("a refused network is listed: %s", out)
		}
	})
	t.Run("bridge name in use", func(t *testing.T) {
		h.Must("network", "create", "-o", "com.docker.network.bridge.name=mybr", "mine")
		dockerFails(t, h, "networks have same bridge name", "network", "create", "-o", "com.docker.network.bridge.name=mybr", "yours")
		dockerFails(t, h, "networks have same bridge name", "network", "create", "-o", "com.docker.network.bridge.name=berth0", "yours")
		apiError(t, h, "POST", "/networks/create", `{"Name":"yours","Options":{"com.docker.network.bridge.name":"mybr"}}`, 403, "conflicts with network mine (mybr)")
		h.Must("network", "rm", "mine")
	})
	t.Run("in use", func(t *testing.T) {
		r := h.Docker("network", "rm", "appnet")
		if r.Code == 0 || !strings.Contains(r.Stderr, "has active endpoints") || !regexp.MustCompile(`\bredis\b`).MatchString(r.Stderr) || !regexp.MustCompile(`\bapp\b`).MatchString(r.Stderr) {
			t.Fatalf("docker network rm appnet with containers: %v, want an error naming redis and app", r)
		}
		apiError(t, h, "DELETE", "/networks/appnet", "", 409, "redis")
		apiError(t, h, "DELETE", "/networks/bridge", "", 403, "bridge is a pre-defined network and cannot be removed")
		dockerFails(t, h, "pre-defined network", "network", "rm", "host")
	})
	t.Run("address in use", func(t *testing.T) {
		r := h.Docker("run", "-d", "--name", "twin", "--network", "appnet", "--ip", "10.60.0.10", "busybox", "sleep", "600")
		if r.Code == 0 || !strings.Contains(r.Stderr, "Address already in use") {
			t.Fatalf("run --ip of an address in use: %v", r)
		}
		h.Must("rm", "-f", "twin")
		dockerFails(t, h, "Address already in use", "network", "connect", "--ip", "10.60.0.10", "appnet", "loner")
		apiError(t, h, "POST", "/networks/appnet/connect", `{"Container":"loner","EndpointConfig":{"IPAMConfig":{"IPv4Address":"10.60.0.10"}}}`, 409, "Address already in use")
		if out := h.Must("exec", "loner", "ls", "/sys/class/net"); strings.Contains(out, "eth1") {
			t.Fatalf("a refused connect left eth1 in loner: %s", out)
		}
		dockerFails(t, h, "no configured subnet or ip-range contain the IP address 10.99.0.1", "network", "connect", "--ip", "10.99.0.1", "appnet", "loner")
	})
	t.Run("connect twice", func(t *testing.T) {
		dockerFails(t, h, "endpoint with name app already exists in network appnet", "network", "connect", "appnet", "app")
		apiError(t, h, "POST", "/networks/appnet/connect", `{"Container":"app"}`, 403, "endpoint with name app already exists in network appnet")
	})
	t.Run("disconnect not connected", func(t *testing.T) {
		dockerFails(t, h, "is not connected to network othernet", "network", "disconnect", "othernet", "app")
		apiError(t, h, "POST", "/networks/othernet/disconnect", `{"Container":"app"}`, 403, "is not connected to network othernet")
	})
	if t.Failed() {
		return
	}
	sameKernelState(t, h, before, "the refused requests")
	// The survivors still work.
	mustReach(t, h, "app", "redis:6379")
}

// TestPoolExhausted runs a daemon with a pool of two /25s (the default
// bridge takes one): the second user network gets Docker's message, leaves
// nothing behind, and fits once the first is removed.
func TestPoolExhausted(t *testing.T) {
	t.Parallel()
	h := harness.NewHost(t, "--default-address-pool", "base=10.123.0.0/24,size=25")
	h.Must("network", "create", "first")
	if s := inspectNetwork(t, h, "first").IPAM.Config[0].Subnet; !strings.HasPrefix(s, "10.123.0.") || !strings.HasSuffix(s, "/25") {
		t.Fatalf("first got %s, want a /25 of 10.123.0.0/24", s)
	}
	before := kernelState(t, h)
	const msg = "could not find an available, non-overlapping IPv4 address pool"
	dockerFails(t, h, msg, "network", "create", "second")
	code, _ := api(t, h, "POST", "/networks/create", `{"Name":"second"}`)
	if code != 403 && code != 400 {
		t.Fatalf("POST /networks/create with the pool exhausted = %d, want 403 like Docker", code)
	}
	sameKernelState(t, h, before, "the refused create")
	// A given subnet does not need the pool.
	h.Must("network", "create", "--subnet", "10.124.0.0/24", "given")
	h.Must("network", "rm", "first")
	h.Must("network", "create", "second")
}

// TestNothingLeftBehind makes creates and connects fail part-way (an
// interface name that is taken, a DNS port that is taken, an address that
// is taken) and checks that each failure is undone entirely.
func TestNothingLeftBehind(t *testing.T) {
	t.Parallel()
	h := harness.NewHost(t)
	h.Must("network", "create", "--subnet", "10.70.0.0/24", "appnet")
	runDetached(h, append([]string{"--name", "redis", "--network", "appnet", "--ip", "10.70.0.10", "busybox"}, redisCmd...)...)
	h.MustSh("ip link add taken0 type veth peer name taken0p")
	before := kernelState(t, h)

	// The bridge name is a device that is not a bridge.
	r := h.Docker("network", "create", "-o", "com.docker.network.bridge.name=taken0", "clash")
	if r.Code == 0 {
		t.Fatalf("network create on a non-bridge device name succeeded: %v", r)
	}
	sameKernelState(t, h, before, "create on a taken device name")

	// Something else serves DNS on the new network's gateway.
	h.MustSh("sysctl -qw net.ipv4.ip_nonlocal_bind=1")
	squatter := h.Spawn(harness.Env.Netkit, "dns-server", "-l", "10.71.0.1:53")
	squatter.WaitOutput(t, "dns-server on", 5*time.Second)
	harness.WaitFor(t, "the squatting DNS server", 5*time.Second, func() bool {
		return strings.Contains(h.Sh("ss -Hlnu sport = :53").Stdout, "10.71.0.1:53")
	})
	before = kernelState(t, h)
	r = h.Docker("network", "create", "--subnet", "10.71.0.0/24", "dnsclash")
	if r.Code == 0 {
		t.Fatalf("network create with its DNS address taken succeeded: %v", r)
	}
	sameKernelState(t, h, before, "create with the DNS address taken")
	squatter.Stop()
	h.MustSh("sysctl -qw net.ipv4.ip_nonlocal_bind=0")
	if out := h.Must("network", "ls", "--format", "{{.Name}}"); strings.Contains(out, "clash") {
		t.Fatalf("a failed network is listed:\n%s", out)
	}

	// A start that fails on a taken --ip leaves no veth, namespace or name.
	before = kernelState(t, h)
	if r := h.Docker("run", "-d", "--name", "twin", "--network", "appnet", "--ip", "10.70.0.10", "busybox", "sleep", "600"); r.Code == 0 {
		t.Fatalf("run with a taken --ip succeeded: %v", r)
	}
	sameKernelState(t, h, before, "a start with a taken --ip")
	runDetached(h, append([]string{"--name", "app", "--network", "appnet", "busybox"}, sleeper...)...)
	mustNotResolve(t, h, "app", "twin")

	// Connect and disconnect a running container: back to where it was.
	h.Must("network", "create", "othernet")
	before = kernelState(t, h)
	h.Must("network", "connect", "othernet", "app")
	h.Must("network", "disconnect", "othernet", "app")
	sameKernelState(t, h, before, "connect then disconnect")

	// Removing everything leaves only the default bridge.
	h.Must("rm", "-f", "redis", "app", "twin")
	h.Must("network", "rm", "appnet", "othernet")
	// The kernel unregisters devices after `network rm` returns (an RCU grace
	// period); the host must be clean a moment later.
	var links string
	harness.WaitFor(t, "the bridges to go", 3*time.Second, func() bool {
		links = h.MustSh("ip -o link show")
		return !strings.Contains(links, "bt-") && !strings.Contains(links, "b-")
	})
	if out := h.MustSh("ss -Hlnu sport = :53; ss -Hlnt sport = :53"); out != "" {
		t.Fatalf("DNS listeners left after removing every user network:\n%s", out)
	}
}
