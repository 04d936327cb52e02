package bridge

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/test/e2e/harness"
)

// sleeper is a container command that runs until removed.
var sleeper = []string{"sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"}

// runSleeper starts a detached busybox container named name with extra
// run flags and returns its id.
func runSleeper(h *harness.Host, name string, flags ...string) string {
	h.T().Helper()
	args := append([]string{"run", "-d", "--name", name}, flags...)
	args = append(args, "busybox")
	return h.Must(append(args, sleeper...)...)
}

// endpoint is the part of `docker inspect`'s per-network settings the tests read.
type endpoint struct {
	NetworkID   string
	EndpointID  string
	Gateway     string
	IPAddress   string
	IPPrefixLen int
	MacAddress  string
	DriverOpts  map[string]string
}

// inspected is the part of `docker container inspect` the tests read.
type inspected struct {
	ID              string `json:"Id"`
	Name            string
	State           struct{ Running bool }
	NetworkSettings struct {
		IPAddress   string
		Gateway     string
		IPPrefixLen int
		MacAddress  string
		SandboxKey  string
		Networks    map[string]endpoint
	}
}

func inspect(h *harness.Host, name string) inspected {
	h.T().Helper()
	var out []inspected
	raw := h.Must("container", "inspect", name)
	if err := json.Unmarshal([]byte(raw), &out); err != nil || len(out) != 1 {
		h.T().Fatalf("docker inspect %s: %v\n%s", name, err, raw)
	}
	return out[0]
}

// ipOf returns the container's address on the default bridge.
func ipOf(h *harness.Host, name string) string {
	h.T().Helper()
	ip := h.Must("inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", name)
	if ip == "" || ip == "<no value>" {
		h.T().Fatalf("%s has no address on the bridge network", name)
	}
	return ip
}

// hostIfOf returns the host end of the container's bridge interface, as inspect shows it.
func hostIfOf(h *harness.Host, name string) string {
	h.T().Helper()
	return h.Must("inspect", "-f", `{{index .NetworkSettings.Networks.bridge.DriverOpts "berth.host_interface"}}`, name)
}

// bridgePorts lists the interfaces enslaved to bridge in the host namespace.
func bridgePorts(h *harness.Host, bridge string) []string {
	h.T().Helper()
	out := h.MustSh("ip -o link show master " + bridge)
	var ports []string
	for _, l := range strings.Split(out, "\n") {
		// "12: b-0123abcd-0@if2: <...> ..."
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		ports = append(ports, name)
	}
	return ports
}

// nftTable is `nft list table inet berth` on the host.
func nftTable(h *harness.Host) string {
	h.T().Helper()
	return h.MustSh("nft list table inet berth")
}

func mustContain(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Fatalf("%s lacks %q:\n%s", what, w, s)
		}
	}
}

func mustNotContain(t *testing.T, what, s string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(s, b) {
			t.Fatalf("%s contains %q:\n%s", what, b, s)
		}
	}
}

// dialFrom runs `netkit dial` in a container and returns its first reply line.
func dialFrom(h *harness.Host, ctr, addr string) harness.Result {
	return h.Docker("exec", ctr, "netkit", "dial", "-t", "3s", addr)
}

// bannerSource returns the "ip" of a "from ip:port" banner line.
func bannerSource(out string) string {
	m := regexp.MustCompile(`from ([0-9.]+):\d+`).FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	return m[1]
}

// waitListening waits until a server in container ctr prints its
// "listening on" line.
func waitListening(h *harness.Host, ctr string) {
	h.T().Helper()
	harness.WaitFor(h.T(), ctr+" to listen", 5*time.Second, func() bool {
		return strings.Contains(h.Docker("logs", ctr).Stdout, "listening on")
	})
}

func itoa(i int) string { return fmt.Sprint(i) }
