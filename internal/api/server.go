// Package api serves the Docker Engine API over HTTP: routing, API
// versions, request decoding, streams and hijacked connections, and the
// mapping of error classes to status codes.
package api

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/daemon"
	"github.com/moby/moby/api/types/system"
	"golang.org/x/sys/unix"
)

// API versions this server speaks.
const (
	APIVersion    = "1.47"
	MinAPIVersion = "1.24"
)

// Server routes Engine API requests to the daemon.
type Server struct {
	d       *daemon.Daemon
	log     *slog.Logger
	version string
	mux     *http.ServeMux
}

// New returns the API server for d.
func New(d *daemon.Daemon, version string, logger *slog.Logger) *Server {
	s := &Server{d: d, log: logger, version: version, mux: http.NewServeMux()}
	s.routes()
	return s
}

var versionPrefix = regexp.MustCompile(`^/v[0-9]+\.[0-9]+/`)

type ctxKey struct{}

// ServeHTTP strips the /vX.Y prefix and sets Docker's headers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	version := APIVersion
	if loc := versionPrefix.FindStringIndex(r.URL.Path); loc != nil {
		version = r.URL.Path[2 : loc[1]-1]
		r.URL.Path = r.URL.Path[loc[1]-1:]
		r.URL.RawPath = ""
	}
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, version))
	h := w.Header()
	h.Set("Api-Version", APIVersion)
	h.Set("Docker-Experimental", "false")
	h.Set("Ostype", "linux")
	h.Set("Server", "berth/"+s.version)
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	s.mux.ServeHTTP(rec, r)
	s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "took", time.Since(start))
}

// statusRecorder remembers the status for the request log; it passes
// Flush and Hijack through, which streams and attach need.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	s.status = http.StatusSwitchingProtocols
	return http.NewResponseController(s.ResponseWriter).Hijack()
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /_ping", s.ping)
	m.HandleFunc("HEAD /_ping", s.ping)
	m.HandleFunc("GET /version", s.versionInfo)
	m.HandleFunc("GET /info", s.info)
	m.HandleFunc("GET /events", s.events)
	s.containerRoutes()
	s.imageRoutes()
	s.networkRoutes()
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "page not found"})
	})
}

func (s *Server) ping(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache, no-store, must-revalidate")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if r.Method == http.MethodHead {
		return
	}
	w.Write([]byte("OK"))
}

func kernelVersion() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func (s *Server) versionInfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, system.VersionResponse{
		Platform: system.PlatformInfo{Name: "berth"},
		Components: []system.ComponentVersion{{Name: "Engine", Version: s.version,
			Details: map[string]string{"ApiVersion": APIVersion, "MinAPIVersion": MinAPIVersion, "Os": "linux", "Arch": runtime.GOARCH}}},
		Version: s.version, APIVersion: APIVersion, MinAPIVersion: MinAPIVersion, GoVersion: runtime.Version(),
		Os: "linux", Arch: runtime.GOARCH, KernelVersion: kernelVersion(), BuildTime: "",
	})
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	st := s.d.Stats()
	host, _ := os.Hostname()
	writeJSON(w, http.StatusOK, system.Info{
		ID: st.ID, Containers: st.Containers, ContainersRunning: st.Running, ContainersStopped: st.Stopped,
		Images: st.Images, Driver: "overlay2", IPv4Forwarding: true, LoggingDriver: "json-file",
		CgroupDriver: "cgroupfs", CgroupVersion: "1", KernelVersion: kernelVersion(),
		OperatingSystem: operatingSystem(), OSType: "linux", Architecture: runtime.GOARCH,
		NCPU: runtime.NumCPU(), MemTotal: memTotal(), DockerRootDir: st.DataRoot, Name: host,
		ServerVersion: s.version, DefaultRuntime: "runc", NGoroutines: runtime.NumGoroutine(),
		SystemTime: time.Now().Format(time.RFC3339Nano), Labels: []string{},
	})
}

func operatingSystem() string {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "linux"
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "linux"
}

func memTotal() int64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}
