package interactive

import (
	"testing"
	"time"

	"github.com/berth-project/berth/test/e2e/harness"
)

func TestZZDebug(t *testing.T) {
	h := harness.NewHost(t)
	for _, args := range [][]string{
		{"run", "--rm", "nosuchimage"},
		{"run", "--rm", "busybox", "/no/such/binary"},
		{"run", "busybox", "/no/such/binary"},
	} {
		start := time.Now()
		r := h.Docker(args...)
		t.Logf("%v: %s %v", args, time.Since(start), r)
	}
}
