package cli

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
)

// frame encodes one multiplexed stream chunk (1 = stdout, 2 = stderr).
func frame(stream byte, data string) []byte {
	hdr := make([]byte, 8, 8+len(data))
	hdr[0] = stream
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(data)))
	return append(hdr, data...)
}

// hijackHandler upgrades the connection and hands it to serve.
func hijackHandler(t *testing.T, serve func(rw *bufio.ReadWriter, closeWrite func())) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		conn, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
		_ = rw.Flush()
		serve(rw, func() { _ = conn.Close() })
	}
}

func noContent(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }

func handleRunLifecycle(d *fakeDaemon, exitCode int, created *container.CreateRequest) {
	d.handle("POST /containers/create", func(w http.ResponseWriter, r *http.Request) {
		if created != nil {
			_ = json.NewDecoder(r.Body).Decode(created)
		}
		writeJSON(w, http.StatusCreated, container.CreateResponse{ID: "c0ffee"})
	})
	d.handle("POST /containers/c0ffee/start", noContent)
	d.handle("POST /containers/c0ffee/wait", jsonHandler(container.WaitResponse{StatusCode: int64(exitCode)}))
}

func TestRunForegroundExitCode(t *testing.T) {
	d := newFakeDaemon(t)
	var req container.CreateRequest
	handleRunLifecycle(d, 3, &req)
	d.handle("POST /containers/c0ffee/attach", hijackHandler(t, func(rw *bufio.ReadWriter, _ func()) {
		_, _ = rw.Write(frame(1, "hello\n"))
		_, _ = rw.Write(frame(2, "oops\n"))
		_ = rw.Flush()
	}))

	out, errOut, code := runCLI(t, d.host, "", "run", "--name", "web", "-e", "A=b", "-p", "127.0.0.1:8080:80",
		"--network", "mynet", "--network-alias", "api", "--restart", "on-failure:2", "alpine", "sh", "-c", "exit 3")
	if code != 3 || out != "hello\n" || errOut != "oops\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if req.Config.Image != "alpine" || strings.Join(req.Config.Cmd, " ") != "sh -c exit 3" || req.Config.Env[0] != "A=b" {
		t.Errorf("config: %+v", req.Config)
	}
	if !req.Config.AttachStdout || !req.Config.AttachStderr || req.Config.OpenStdin {
		t.Errorf("attach flags: %+v", req.Config)
	}
	hc := req.HostConfig
	if string(hc.NetworkMode) != "mynet" || hc.RestartPolicy.Name != "on-failure" || hc.RestartPolicy.MaximumRetryCount != 2 {
		t.Errorf("host config: %+v", hc)
	}
	if len(hc.PortBindings) != 1 {
		t.Fatalf("port bindings: %v", hc.PortBindings)
	}
	for p, b := range hc.PortBindings {
		if p.String() != "80/tcp" || b[0].HostIP.String() != "127.0.0.1" || b[0].HostPort != "8080" {
			t.Errorf("binding %v: %+v", p, b)
		}
	}
	if ep := req.NetworkingConfig.EndpointsConfig["mynet"]; ep == nil || ep.Aliases[0] != "api" {
		t.Errorf("endpoints: %+v", req.NetworkingConfig)
	}
	if calls := d.called("POST /containers/c0ffee/wait"); len(calls) != 1 || !strings.Contains(calls[0], "condition=next-exit") {
		t.Errorf("wait calls: %v", calls)
	}
}

func TestRunInteractiveStdin(t *testing.T) {
	d := newFakeDaemon(t)
	handleRunLifecycle(d, 0, nil)
	d.handle("POST /containers/c0ffee/attach", hijackHandler(t, func(rw *bufio.ReadWriter, _ func()) {
		in, _ := io.ReadAll(rw)
		_, _ = rw.Write(frame(1, strings.ToUpper(string(in))))
		_ = rw.Flush()
	}))
	out, errOut, code := runCLI(t, d.host, "ping\n", "run", "-i", "--rm", "alpine", "cat")
	if code != 0 || out != "PING\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if calls := d.called("POST /containers/c0ffee/wait"); len(calls) != 1 || !strings.Contains(calls[0], "condition=removed") {
		t.Errorf("wait calls: %v", calls)
	}
	if calls := d.called("POST /containers/c0ffee/attach"); len(calls) != 1 || !strings.Contains(calls[0], "stdin=1") {
		t.Errorf("attach calls: %v", calls)
	}
}

func TestRunTTYOutputIsRaw(t *testing.T) {
	d := newFakeDaemon(t)
	handleRunLifecycle(d, 0, nil)
	d.handle("POST /containers/c0ffee/attach", hijackHandler(t, func(rw *bufio.ReadWriter, _ func()) {
		_, _ = rw.WriteString("tty output\r\n")
		_ = rw.Flush()
	}))
	out, _, code := runCLI(t, d.host, "", "run", "-t", "alpine")
	if code != 0 || out != "tty output\r\n" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
}

func TestRunDetached(t *testing.T) {
	d := newFakeDaemon(t)
	handleRunLifecycle(d, 0, nil)
	out, _, code := runCLI(t, d.host, "", "run", "-d", "alpine", "sleep", "100")
	if code != 0 || out != "c0ffee\n" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	if len(d.called("POST /containers/c0ffee/attach")) != 0 {
		t.Error("detached run must not attach")
	}
}

func TestRunMissingImage(t *testing.T) {
	d := newFakeDaemon(t)
	d.handle("POST /containers/create", errorHandler(http.StatusNotFound, "No such image: nosuch:latest"))
	d.handle("POST /images/create", errorHandler(http.StatusNotImplemented, "image pull is not supported"))
	_, errOut, code := runCLI(t, d.host, "", "run", "nosuch")
	if code != 125 {
		t.Errorf("exit %d, want 125", code)
	}
	for _, want := range []string{
		"Unable to find image 'nosuch:latest' locally\n",
		"berth: Error response from daemon: image pull is not supported",
		"Run 'berth run --help' for more information",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q lacks %q", errOut, want)
		}
	}
}

func TestRunStartFailureExitCodes(t *testing.T) {
	d := newFakeDaemon(t)
	handleRunLifecycle(d, 0, nil)
	d.handle("POST /containers/c0ffee/start", errorHandler(http.StatusBadRequest,
		`failed to create task: exec: "nope": executable file not found in $PATH`))
	d.handle("POST /containers/c0ffee/attach", hijackHandler(t, func(*bufio.ReadWriter, func()) {}))
	_, errOut, code := runCLI(t, d.host, "", "run", "alpine", "nope")
	if code != 127 || !strings.Contains(errOut, "executable file not found") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestCreatePrintsID(t *testing.T) {
	d := newFakeDaemon(t)
	var req container.CreateRequest
	handleRunLifecycle(d, 0, &req)
	out, _, code := runCLI(t, d.host, "", "create", "-it", "--entrypoint", "", "-l", "a=b", "alpine")
	if code != 0 || out != "c0ffee\n" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	if !req.Config.Tty || !req.Config.OpenStdin || len(req.Config.Entrypoint) != 1 || req.Config.Entrypoint[0] != "" {
		t.Errorf("config: %+v", req.Config)
	}
	if req.Config.Labels["a"] != "b" {
		t.Errorf("labels: %v", req.Config.Labels)
	}
}
