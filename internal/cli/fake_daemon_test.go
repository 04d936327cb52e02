package cli

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeDaemon is a minimal Engine API server on a unix socket. Routes are
// matched on "METHOD /path" with the API version prefix removed.
type fakeDaemon struct {
	t      *testing.T
	host   string
	mu     sync.Mutex
	routes map[string]http.HandlerFunc
	calls  []string
	prefix *regexp.Regexp
}

func newFakeDaemon(t *testing.T) *fakeDaemon {
	t.Helper()
	d := &fakeDaemon{t: t, routes: map[string]http.HandlerFunc{}, prefix: regexp.MustCompile(`^/v[0-9]+\.[0-9]+`)}
	sock := filepath.Join(t.TempDir(), "berth.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(d.serve))
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	d.host = "unix://" + sock
	return d
}

func (d *fakeDaemon) handle(route string, h http.HandlerFunc) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.routes[route] = h
}

func (d *fakeDaemon) serve(w http.ResponseWriter, r *http.Request) {
	path := d.prefix.ReplaceAllString(r.URL.Path, "")
	if path == "/_ping" {
		w.Header().Set("Api-Version", "1.47")
		w.Header().Set("Ostype", "linux")
		_, _ = w.Write([]byte("OK"))
		return
	}
	key := r.Method + " " + path
	d.mu.Lock()
	d.calls = append(d.calls, key+"?"+r.URL.RawQuery)
	h, ok := d.routes[key]
	d.mu.Unlock()
	if !ok {
		writeJSONError(w, http.StatusNotFound, "page not found")
		return
	}
	h(w, r)
}

func (d *fakeDaemon) called(prefix string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, c := range d.calls {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg})
}

func rawJSON(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}
}

func jsonHandler(v any) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, v) }
}

func errorHandler(status int, msg string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { writeJSONError(w, status, msg) }
}

// runCLI runs one berth invocation against host and returns its output and
// exit code.
func runCLI(t *testing.T, host, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	root := NewRootCommand(strings.NewReader(stdin), &out, &errb)
	root.SetArgs(append([]string{"-H", host}, args...))
	done := make(chan int, 1)
	go func() { done <- Execute(root) }()
	select {
	case code = <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("berth %v did not finish", args)
	}
	return out.String(), errb.String(), code
}
