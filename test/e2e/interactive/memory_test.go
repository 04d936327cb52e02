package interactive

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-project/berth/test/e2e/harness"
)

// TestMemory measures what containers cost in resident memory: each
// container's shim (goal: under 5 MB with 10 running) and the daemon idle
// with 50 running (goal: under 60 MB). The figures are logged (go test -v).
func TestMemory(t *testing.T) {
	h := harness.NewHost(t)
	runMany(t, h, 0, 10)
	time.Sleep(time.Second)
	shims := shimPids(t, h.DaemonPid())
	if len(shims) != 10 {
		t.Fatalf("found %d shims of the daemon, want 10", len(shims))
	}
	var sum, most int
	var pss int
	for _, pid := range shims {
		rss := procKB(t, fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
		pss += procKB(t, fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:")
		sum += rss
		most = max(most, rss)
	}
	t.Logf("shim resident memory with 10 containers: VmRSS mean %d kB, max %d kB; Pss mean %d kB",
		sum/len(shims), most, pss/len(shims))
	if most > 5*1024 {
		t.Errorf("a shim uses %d kB resident, want under 5 MB", most)
	}

	runMany(t, h, 10, 50)
	time.Sleep(3 * time.Second)
	if n := len(strings.Fields(h.Must("ps", "-q"))); n != 50 {
		t.Fatalf("%d containers running, want 50", n)
	}
	rss := procKB(t, fmt.Sprintf("/proc/%d/status", h.DaemonPid()), "VmRSS:")
	t.Logf("daemon resident memory, idle with 50 containers running: VmRSS %d kB", rss)
	if rss > 60*1024 {
		t.Errorf("daemon uses %d kB resident with 50 containers, want under 60 MB", rss)
	}
}

// runMany starts containers m<from>..m<to-1>, a few at a time.
func runMany(t *testing.T, h *harness.Host, from, to int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan string, to-from)
	next := make(chan int)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if r := h.Docker("run", "-d", "--name", "m"+strconv.Itoa(i), "busybox", "sleep", "600"); r.Code != 0 {
					errs <- r.String()
				}
			}
		}()
	}
	for i := from; i < to; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatalf("docker run -d: %s", e)
	}
}

// shimPids lists the berth-shim children of the daemon.
func shimPids(t *testing.T, daemon int) []int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, p := range stats {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(data)
		lp, rp := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if lp < 0 || rp < 0 || s[lp+1:rp] != "berth-shim" {
			continue
		}
		f := strings.Fields(s[rp+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(daemon) {
			pid, _ := strconv.Atoi(s[:lp-1])
			out = append(out, pid)
		}
	}
	return out
}

// procKB reads a "Key:   123 kB" line of a /proc file.
func procKB(t *testing.T, path, key string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, key); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Fatalf("%s has no %s", path, key)
	return 0
}
