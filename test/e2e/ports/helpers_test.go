package ports

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/test/e2e/harness"
)

// dial runs `netkit dial` on a machine and returns the result.
func dial(m *harness.Machine, addr string, extra ...string) harness.Result {
	return m.Sh(dialCmd(addr, extra))
}

// dialHost runs `netkit dial` in the host namespace.
func dialHost(h *harness.Host, addr string, extra ...string) harness.Result {
	return h.Sh(dialCmd(addr, extra))
}

func dialCmd(addr string, extra []string) string {
	args := append(append([]string{harness.Env.Netkit, "dial", "-t", "2s"}, extra...), addr)
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(quoted, " ")
}

// bannerSource returns the "ip" of a "from ip:port" banner line.
func bannerSource(out string) string {
	m := regexp.MustCompile(`from ([0-9.]+):\d+`).FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	return m[1]
}

// runServer starts a detached container running netkit args and waits
// until it listens.
func runServer(h *harness.Host, name string, flags []string, netkit ...string) {
	h.T().Helper()
	args := append([]string{"run", "-d", "--name", name}, flags...)
	args = append(append(args, "busybox", "netkit"), netkit...)
	h.Must(args...)
	waitLogs(h, name, "listening on", 1)
}

// waitLogs waits until the container's logs hold want n times.
func waitLogs(h *harness.Host, name, want string, n int) {
	h.T().Helper()
	harness.WaitFor(h.T(), name+" to log "+want, 5*time.Second, func() bool {
		return strings.Count(h.Docker("logs", name).Stdout, want) >= n
	})
}

// nftMap lists one of berth's DNAT maps.
func nftMap(h *harness.Host, name string) string {
	h.T().Helper()
	return h.MustSh("nft list map inet berth " + name)
}

// allMaps lists every DNAT map's elements.
func allMaps(h *harness.Host) string {
	h.T().Helper()
	var b strings.Builder
	for _, f := range []string{"4", "6"} {
		for _, s := range []string{"", "_any", "_range", "_keepport"} {
			b.WriteString(nftMap(h, "dnat"+f+s))
		}
	}
	return b.String()
}

// ipOf returns the container's address on the default bridge.
func ipOf(h *harness.Host, name string) string {
	h.T().Helper()
	return h.Must("inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", name)
}

// bridgePorts counts interfaces on berth0.
func bridgePorts(h *harness.Host) int {
	h.T().Helper()
	out := strings.TrimSpace(h.MustSh("ip -o link show master berth0"))
	if out == "" {
		return 0
	}
	return len(strings.Split(out, "\n"))
}

// dockerPort parses `docker port` output into "80/tcp" -> ["0.0.0.0:32768", ...].
func dockerPort(h *harness.Host, name string) map[string][]string {
	h.T().Helper()
	out := map[string][]string{}
	for _, l := range strings.Split(h.Must("port", name), "\n") {
		k, v, ok := strings.Cut(l, " -> ")
		if ok {
			out[k] = append(out[k], v)
		}
	}
	return out
}

func portOf(hostPort string) int {
	i := strings.LastIndex(hostPort, ":")
	p, _ := strconv.Atoi(hostPort[i+1:])
	return p
}

func mustContain(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Fatalf("%s lacks %q:\n%s", what, w, s)
		}
	}
}
