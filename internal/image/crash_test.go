package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	crashRootEnv  = "BERTH_IMAGE_CRASH_ROOT"
	crashStartEnv = "BERTH_IMAGE_CRASH_START"
)

// TestIndexNeverTorn reads repositories.json continuously while tags are
// rewritten; with temp-file + rename every read must be a complete index.
func TestIndexNeverTorn(t *testing.T) {
	s, root := newTestStore(t)
	importBusybox(t, s, "busybox:latest")
	var stop atomic.Bool
	var wg sync.WaitGroup
	var reads, bad atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			data, err := os.ReadFile(filepath.Join(root, "repositories.json"))
			var ix index
			if err != nil || json.Unmarshal(data, &ix) != nil || len(ix.Images) != 1 {
				bad.Add(1)
			}
			reads.Add(1)
		}
	}()
	for i := range 200 {
		if err := s.Tag("busybox", fmt.Sprintf("busybox:t%d", i)); err != nil {
			t.Error(err)
			break
		}
	}
	stop.Store(true)
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d of %d reads saw a torn or missing index", bad.Load(), reads.Load())
	}
	img, err := s.Get("busybox")
	if err != nil || len(img.RepoTags) != 201 {
		t.Fatalf("tags = %d, %v", len(img.RepoTags), err)
	}
}

// TestCrashSafety SIGKILLs a child process that keeps importing, tagging
// and deleting, then checks the store reopens consistently each time.
func TestCrashSafety(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	t.Cleanup(func() { detachMountsUnder(t, root) })
	s, err := New(root, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	base := importBusybox(t, s, "busybox:latest")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	progressed := false
	for round := range 6 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$")
		start := round * 1000
		cmd.Env = append(os.Environ(), crashRootEnv+"="+root, fmt.Sprintf("%s=%d", crashStartEnv, start))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill only once the child has committed work, at a varying point
		// of its next iterations.
		waitForIndex(t, root, fmt.Sprintf(`"crash:%d"`, start))
		time.Sleep(time.Duration(round*37) * time.Millisecond)
		_ = cmd.Process.Kill() // SIGKILL to the child we started
		_ = cmd.Wait()
		if strings.Contains(out.String(), "FAIL") {
			t.Fatalf("helper failed:\n%s", out.String())
		}
		if checkAfterCrash(t, root, base.ID) > 1 {
			progressed = true
		}
	}
	if !progressed {
		t.Fatal("helper never committed an import before being killed; test proves nothing")
	}
}

func waitForIndex(t *testing.T, root, needle string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(filepath.Join(root, "repositories.json"))
		if bytes.Contains(data, []byte(needle)) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("child never committed %s", needle)
}

// checkAfterCrash returns the number of images found.
func checkAfterCrash(t *testing.T, root, baseID string) int {
	t.Helper()
	t.Logf("before restart: staging %v, layers %d", readDirNames(t, filepath.Join(root, "tmp")), len(readDirNames(t, filepath.Join(root, "layers"))))
	s, err := New(root, testLogger(t))
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer s.Close()
	list, err := s.List()
	if err != nil {
		t.Fatalf("List after crash: %v", err)
	}
	layers := map[string]bool{}
	for _, img := range list {
		for _, c := range chainIDs(img.Layers) {
			layers[hexOf(c)] = true
			if _, err := os.Stat(filepath.Join(root, "layers", hexOf(c), "bin/busybox")); err != nil {
				t.Fatalf("image %s references incomplete layer: %v", img.ID, err)
			}
		}
	}
	if img, err := s.Get("busybox:latest"); err != nil || img.ID != baseID {
		t.Fatalf("busybox:latest after crash = %s, %v", img.ID, err)
	}
	for _, name := range readDirNames(t, filepath.Join(root, "layers")) {
		if !layers[name] {
			t.Fatalf("orphan layer %s survived restart", name)
		}
	}
	if left := readDirNames(t, filepath.Join(root, "tmp")); len(left) != 0 {
		t.Fatalf("staging leftovers after restart: %v", left)
	}
	merged, err := s.Mount(context.Background(), baseID, "crash")
	if err != nil {
		t.Fatalf("Mount after crash: %v", err)
	}
	if _, err := os.Stat(filepath.Join(merged, "bin/sh")); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveRootfs("crash"); err != nil {
		t.Fatal(err)
	}
	return len(list)
}

// TestCrashHelper is the child process of TestCrashSafety; it runs until
// killed.
func TestCrashHelper(t *testing.T) {
	root := os.Getenv(crashRootEnv)
	if root == "" {
		t.Skip("helper process for TestCrashSafety")
	}
	s, err := New(root, testLogger(t))
	if err != nil {
		t.Fatalf("helper New: %v", err)
	}
	// A distinct layer per iteration so extraction is often in flight.
	start, err := strconv.Atoi(os.Getenv(crashStartEnv))
	if err != nil {
		t.Fatalf("helper start: %v", err)
	}
	for i := start; ; i++ {
		rootfs := busyboxRootfs(t, map[string][]byte{"/etc/iteration": []byte(fmt.Sprint(time.Now().UnixNano(), i))})
		img, err := s.Import(context.Background(), bytes.NewReader(rootfs), fmt.Sprintf("crash:%d", i), nil, "")
		if err != nil {
			t.Fatalf("helper import: %v", err)
		}
		if err := s.Tag(img.ID, "crash:latest"); err != nil {
			t.Fatalf("helper tag: %v", err)
		}
		if i > start {
			if _, err := s.Delete(fmt.Sprintf("crash:%d", i-1), false, nil); err != nil {
				t.Fatalf("helper delete: %v", err)
			}
		}
	}
}
