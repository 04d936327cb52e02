package cli

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

const inspectFixture = `{"Id":"4a7f7eebae0f63178aff7eb0aa39cd3f0627a203ab2df258c1a00b456cf20063",
"Name":"/web","State":{"Status":"running","Running":true,"Pid":1234567,"ExitCode":0},
"Config":{"Image":"nginx","Env":["A=b"],"Tty":false},
"NetworkSettings":{"IPAddress":"172.17.0.2","Ports":{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}]},
"Networks":{"bridge":{"IPAddress":"172.17.0.2"}}}}`

func TestNotFoundErrors(t *testing.T) {
	d := newFakeDaemon(t)
	d.handle("POST /containers/x/stop", errorHandler(http.StatusNotFound, "No such container: x"))
	d.handle("GET /containers/x/json", errorHandler(http.StatusNotFound, "No such container: x"))
	d.handle("GET /images/x/json", errorHandler(http.StatusNotFound, "No such image: x:latest"))
	d.handle("GET /networks/x", errorHandler(http.StatusNotFound, "network x not found"))

	out, errOut, code := runCLI(t, d.host, "", "stop", "x")
	if code != 1 || errOut != "Error response from daemon: No such container: x\n" || out != "" {
		t.Errorf("stop: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	out, errOut, code = runCLI(t, d.host, "", "container", "inspect", "x")
	if code != 1 || errOut != "Error response from daemon: No such container: x\n" || out != "[]\n" {
		t.Errorf("container inspect: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	_, errOut, code = runCLI(t, d.host, "", "inspect", "x")
	if code != 1 || errOut != "Error: No such object: x\n" {
		t.Errorf("inspect: exit %d, stderr %q", code, errOut)
	}
}

func TestMultiArgPartialFailure(t *testing.T) {
	d := newFakeDaemon(t)
	d.handle("DELETE /containers/a", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	d.handle("DELETE /containers/b", errorHandler(http.StatusConflict, "cannot remove container \"/b\": container is running"))
	out, errOut, code := runCLI(t, d.host, "", "rm", "a", "b")
	if code != 1 || out != "a\n" || !strings.Contains(errOut, "Error response from daemon: cannot remove container") {
		t.Errorf("rm: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if calls := d.called("DELETE /containers/a"); len(calls) != 1 {
		t.Errorf("calls: %v", calls)
	}
}

func TestInspectFormats(t *testing.T) {
	d := newFakeDaemon(t)
	d.handle("GET /containers/web/json", rawJSON(inspectFixture))

	cases := map[string]string{
		"{{.State.Pid}}":                       "1234567",
		"{{.NetworkSettings.IPAddress}}":       "172.17.0.2",
		"{{if eq .State.ExitCode 0}}ok{{end}}": "ok",
		"{{json .Config.Env}}":                 `["A=b"]`,
		"{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}}{{end}}": "bridge=172.17.0.2",
		"{{.Name}} {{.State.Running}}": "/web true",
	}
	for format, want := range cases {
		out, errOut, code := runCLI(t, d.host, "", "inspect", "-f", format, "web")
		if code != 0 || out != want+"\n" {
			t.Errorf("inspect -f %q: got %q (exit %d, stderr %q), want %q", format, out, code, errOut, want)
		}
	}

	out, _, code := runCLI(t, d.host, "", "container", "inspect", "web")
	if code != 0 || !strings.HasPrefix(out, "[\n    {\n        \"Id\": \"4a7f7eeb") {
		t.Errorf("inspect json: %q", out)
	}
	var arr []map[string]any
	if err := json.Unmarshal([]byte(out), &arr); err != nil || len(arr) != 1 {
		t.Errorf("inspect output is not a JSON array: %v", err)
	}

	out, _, _ = runCLI(t, d.host, "", "port", "web")
	if out != "80/tcp -> 0.0.0.0:8080\n" {
		t.Errorf("port: %q", out)
	}
	out, _, _ = runCLI(t, d.host, "", "port", "web", "80")
	if out != "0.0.0.0:8080\n" {
		t.Errorf("port 80: %q", out)
	}
}

func TestFlagAndArgErrors(t *testing.T) {
	d := newFakeDaemon(t)
	_, errOut, code := runCLI(t, d.host, "", "ps", "--bogus")
	if code != 125 || !strings.Contains(errOut, "unknown flag: --bogus") {
		t.Errorf("bad flag: exit %d, stderr %q", code, errOut)
	}
	_, errOut, code = runCLI(t, d.host, "", "stop")
	if code != 1 || !strings.Contains(errOut, `"berth stop" requires at least 1 argument`) {
		t.Errorf("missing arg: exit %d, stderr %q", code, errOut)
	}
}

func TestConnectionFailure(t *testing.T) {
	host := "unix://" + filepath.Join(t.TempDir(), "missing.sock")
	_, errOut, code := runCLI(t, host, "", "ps")
	if code != 1 || !strings.Contains(errOut, "berth") || strings.Contains(errOut, "docker") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestHostFromEnv(t *testing.T) {
	d := newFakeDaemon(t)
	d.handle("GET /networks", jsonHandler(fixtureNetworks()))
	t.Setenv(HostEnvVar, d.host)
	var out strings.Builder
	root := NewRootCommand(strings.NewReader(""), &out, &out)
	root.SetArgs([]string{"network", "ls", "-q"})
	if code := Execute(root); code != 0 || strings.Count(out.String(), "\n") != 4 {
		t.Errorf("exit %d, output %q", code, out.String())
	}
}
