package ports

import (
	"testing"
	"time"

	"github.com/berth-project/berth/test/e2e/harness"
)

func TestZZDebug(t *testing.T) {
	for _, wait := range []time.Duration{0, 3 * time.Second} {
		h := harness.NewHost(t)
		client := h.AddMachine("10.77.1")
		h.MustSh("ip addr add fd77::1/64 dev hv0 nodad")
		client.Sh("ip addr add fd77::2/64 dev mv0 nodad && ip -6 route add default via fd77::1")
		h.Must("network", "create", "--ipv6", "--subnet", "fd00:1::/64", "v6net")
		time.Sleep(wait)
		runServer(h, "v6", []string{"--network", "v6net", "-p", "8090:80"}, "echo", "-l", ":80", "-banner")
		start := time.Now()
		for dial(client, "[fd77::1]:8090").Code != 0 && time.Since(start) < 10*time.Second {
		}
		t.Log("wait", wait, "first connection after", time.Since(start))
	}
}
