package cli

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/system"
)

func TestVersionFormat(t *testing.T) {
	d := newFakeDaemon(t)
	d.handle("GET /version", jsonHandler(system.VersionResponse{
		Version: "0.1.0", APIVersion: "1.47", MinAPIVersion: "1.24", Os: "linux", Arch: "amd64",
	}))
	out, errOut, code := runCLI(t, d.host, "", "version", "--format", "{{.Server.Version}} {{.Server.APIVersion}}")
	if code != 0 || out != "0.1.0 1.47\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, _, code = runCLI(t, d.host, "", "version")
	if code != 0 || !strings.Contains(out, "Server:") || !strings.Contains(out, "1.47 (minimum version 1.24)") {
		t.Errorf("version output %q", out)
	}
}

func TestInfo(t *testing.T) {
	d := newFakeDaemon(t)
	d.handle("GET /info", jsonHandler(system.Info{Containers: 3, ContainersRunning: 1, ContainersStopped: 2, Images: 4, ServerVersion: "0.1.0", NCPU: 2}))
	out, _, code := runCLI(t, d.host, "", "info")
	if code != 0 || !strings.Contains(out, " Containers: 3\n  Running: 1\n") || !strings.Contains(out, " Server Version: 0.1.0\n") {
		t.Errorf("info output %q", out)
	}
	out, _, _ = runCLI(t, d.host, "", "info", "--format", "{{.Images}}")
	if out != "4\n" {
		t.Errorf("info --format: %q", out)
	}
}

func TestEvents(t *testing.T) {
	d := newFakeDaemon(t)
	d.handle("GET /events", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		_ = enc.Encode(events.Message{
			Type: "container", Action: "start", TimeNano: 1700000000123456789,
			Actor: events.Actor{ID: "c0ffee", Attributes: map[string]string{"name": "web", "image": "alpine"}},
		})
	})
	out, errOut, code := runCLI(t, d.host, "", "events", "--filter", "container=web", "--until", "0s")
	if code != 0 || !strings.HasSuffix(out, "container start c0ffee (image=alpine, name=web)\n") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if calls := d.called("GET /events"); len(calls) != 1 || !strings.Contains(calls[0], "filters=") {
		t.Errorf("events calls %v", calls)
	}
	out, _, _ = runCLI(t, d.host, "", "events", "--format", "{{.Actor.ID}} {{.Action}}")
	if out != "c0ffee start\n" {
		t.Errorf("events --format: %q", out)
	}
}

func TestLogs(t *testing.T) {
	d := newFakeDaemon(t)
	d.handle("GET /containers/web/json", rawJSON(`{"Id":"abc","Config":{"Tty":false}}`))
	d.handle("GET /containers/abc/logs", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(frame(1, "out line\n"))
		_, _ = w.Write(frame(2, "err line\n"))
	})
	out, errOut, code := runCLI(t, d.host, "", "logs", "--tail", "5", "-t", "web")
	if code != 0 || out != "out line\n" || errOut != "err line\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	calls := d.called("GET /containers/abc/logs")
	if len(calls) != 1 || !strings.Contains(calls[0], "tail=5") || !strings.Contains(calls[0], "timestamps=1") {
		t.Errorf("logs calls %v", calls)
	}
}

func TestExecExitCode(t *testing.T) {
	d := newFakeDaemon(t)
	var req container.ExecCreateRequest
	d.handle("POST /containers/web/exec", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&req)
		writeJSON(w, http.StatusCreated, container.ExecCreateResponse{ID: "e1"})
	})
	d.handle("POST /exec/e1/start", hijackHandler(t, func(rw *bufio.ReadWriter, _ func()) {
		in, _ := io.ReadAll(rw)
		_, _ = rw.Write(frame(1, "got "+string(in)))
		_ = rw.Flush()
	}))
	exitCode := 7
	d.handle("GET /exec/e1/json", jsonHandler(container.ExecInspectResponse{ID: "e1", ExitCode: &exitCode}))
	out, errOut, code := runCLI(t, d.host, "data", "exec", "-i", "-e", "X=1", "-w", "/tmp", "web", "cat")
	if code != 7 || out != "got data" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if !req.AttachStdin || req.WorkingDir != "/tmp" || req.Env[0] != "X=1" || req.Cmd[0] != "cat" {
		t.Errorf("exec request %+v", req)
	}
}

func TestStatsNoStream(t *testing.T) {
	d := newFakeDaemon(t)
	d.handle("GET /containers/web/stats", jsonHandler(container.StatsResponse{
		ID: "4a7f7eebae0f63178aff7eb0aa39cd3f", Name: "/web",
		CPUStats:    container.CPUStats{CPUUsage: container.CPUUsage{TotalUsage: 200}, SystemUsage: 1000, OnlineCPUs: 2},
		PreCPUStats: container.CPUStats{CPUUsage: container.CPUUsage{TotalUsage: 100}, SystemUsage: 500},
		MemoryStats: container.MemoryStats{Usage: 1 << 20, Limit: 4 << 20},
		PidsStats:   container.PidsStats{Current: 3},
	}))
	out, errOut, code := runCLI(t, d.host, "", "stats", "--no-stream", "web")
	want := "" +
		"CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O   BLOCK I/O   PIDS\n" +
		"4a7f7eebae0f   web       40.00%    1MiB / 4MiB         25.00%    0B / 0B   0B / 0B     3\n"
	if code != 0 || out != want {
		t.Errorf("exit %d, stderr %q, stdout:\n%s\nwant:\n%s", code, errOut, out, want)
	}
}

func TestNetworkCreate(t *testing.T) {
	d := newFakeDaemon(t)
	var req network.CreateRequest
	d.handle("POST /networks/create", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&req)
		writeJSON(w, http.StatusCreated, network.CreateResponse{ID: "n1"})
	})
	out, errOut, code := runCLI(t, d.host, "", "network", "create", "--subnet", "10.5.0.0/16",
		"--gateway", "10.5.0.1", "--ip-range", "10.5.1.0/24", "--internal", "--label", "a=b", "-o", "mtu=1400", "mynet")
	if code != 0 || out != "n1\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if req.Name != "mynet" || req.Driver != "bridge" || !req.Internal || req.Labels["a"] != "b" || req.Options["mtu"] != "1400" {
		t.Errorf("request %+v", req)
	}
	cfg := req.IPAM.Config
	if len(cfg) != 1 || cfg[0].Subnet.String() != "10.5.0.0/16" || cfg[0].Gateway.String() != "10.5.0.1" || cfg[0].IPRange.String() != "10.5.1.0/24" {
		t.Errorf("ipam %+v", req.IPAM)
	}
	_, errOut, code = runCLI(t, d.host, "", "network", "create", "--gateway", "10.6.0.1", "bad")
	if code != 1 || !strings.Contains(errOut, "corresponding subnet") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestLoadAndPrune(t *testing.T) {
	d := newFakeDaemon(t)
	d.handle("POST /images/load", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"stream":"Loaded image: ` + string(body) + `\n"}` + "\n"))
	})
	d.handle("POST /containers/prune", jsonHandler(container.PruneReport{ContainersDeleted: []string{"aaa", "bbb"}}))
	out, errOut, code := runCLI(t, d.host, "img:1", "load")
	if code != 0 || out != "Loaded image: img:1\n" {
		t.Errorf("load: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, _, _ = runCLI(t, d.host, "n\n", "container", "prune")
	if !strings.HasPrefix(out, "WARNING!") || len(d.called("POST /containers/prune")) != 0 {
		t.Errorf("prune without confirmation: %q", out)
	}
	out, _, _ = runCLI(t, d.host, "", "container", "prune", "-f")
	if out != "Deleted Containers:\naaa\nbbb\n\nTotal reclaimed space: 0B\n" {
		t.Errorf("prune -f: %q", out)
	}
}
