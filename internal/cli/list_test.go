package cli

import (
	"encoding/json"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/network"
)

func fixtureContainers(now time.Time) []container.Summary {
	return []container.Summary{
		{
			ID:      "4a7f7eebae0f63178aff7eb0aa39cd3f0627a203ab2df258c1a00b456cf20063",
			Names:   []string{"/web"},
			Image:   "nginx:latest",
			Command: "/docker-entrypoint.sh nginx -g 'daemon off;'",
			Created: now.Add(-time.Hour).Unix(),
			Ports: []container.PortSummary{
				{IP: netip.MustParseAddr("0.0.0.0"), PrivatePort: 80, PublicPort: 8080, Type: "tcp"},
				{PrivatePort: 443, Type: "tcp"},
			},
			Labels: map[string]string{"tier": "front", "app": "shop"},
			State:  container.StateRunning,
			Status: "Up About an hour",
		},
		{
			ID:      "b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2",
			Names:   []string{"/db"},
			Image:   "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			Command: "sh",
			Created: now.Add(-48 * time.Hour).Unix(),
			State:   container.StateExited,
			Status:  "Exited (0) 2 days ago",
		},
	}
}

func TestPsTable(t *testing.T) {
	d := newFakeDaemon(t)
	d.handle("GET /containers/json", jsonHandler(fixtureContainers(time.Now())))

	out, errOut, code := runCLI(t, d.host, "", "ps", "-a")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	want := "" +
		"CONTAINER ID   IMAGE          COMMAND                  CREATED             STATUS                  PORTS                           NAMES\n" +
		"4a7f7eebae0f   nginx:latest   \"/docker-entrypoint.…\"   About an hour ago   Up About an hour        443/tcp, 0.0.0.0:8080->80/tcp   web\n" +
		"b1c2d3e4f5a6   0123456789ab   \"sh\"                     2 days ago          Exited (0) 2 days ago                                   db\n"
	if out != want {
		t.Errorf("ps output:\n%s\nwant:\n%s", out, want)
	}
	calls := d.called("GET /containers/json")
	if len(calls) != 1 || !strings.Contains(calls[0], "all=1") {
		t.Errorf("expected all=1 in query, got %v", calls)
	}
}

func TestPsEmptyHeader(t *testing.T) {
	d := newFakeDaemon(t)
	d.handle("GET /containers/json", jsonHandler([]container.Summary{}))
	out, _, code := runCLI(t, d.host, "", "container", "ls")
	want := "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"
	if code != 0 || out != want {
		t.Errorf("got %q (exit %d), want %q", out, code, want)
	}
}

func TestPsQuietAndFilters(t *testing.T) {
	d := newFakeDaemon(t)
	d.handle("GET /containers/json", jsonHandler(fixtureContainers(time.Now())))
	out, _, code := runCLI(t, d.host, "", "ps", "-q", "--no-trunc", "-f", "name=web", "-f", "status=running")
	want := "4a7f7eebae0f63178aff7eb0aa39cd3f0627a203ab2df258c1a00b456cf20063\n" +
		"b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2\n"
	if code != 0 || out != want {
		t.Errorf("got %q (exit %d)", out, code)
	}
	calls := d.called("GET /containers/json")
	q, _ := url.ParseQuery(strings.SplitN(calls[0], "?", 2)[1])
	var filters map[string]map[string]bool
	if err := json.Unmarshal([]byte(q.Get("filters")), &filters); err != nil {
		t.Fatalf("filters query %q: %v", q.Get("filters"), err)
	}
	if !filters["name"]["web"] || !filters["status"]["running"] {
		t.Errorf("filters not passed: %v", filters)
	}
}

func TestPsTemplates(t *testing.T) {
	d := newFakeDaemon(t)
	d.handle("GET /containers/json", jsonHandler(fixtureContainers(time.Now())[:1]))

	out, _, _ := runCLI(t, d.host, "", "ps", "--format", "{{.ID}} {{.Names}} {{.Label \"tier\"}} {{.Labels}}")
	if want := "4a7f7eebae0f web front app=shop,tier=front\n"; out != want {
		t.Errorf("template output %q, want %q", out, want)
	}

	out, _, _ = runCLI(t, d.host, "", "ps", "--format", `table {{.Names}}\t{{.State}}`)
	if want := "NAMES     STATE\nweb       running\n"; out != want {
		t.Errorf("table template output %q, want %q", out, want)
	}

	out, _, _ = runCLI(t, d.host, "", "ps", "--format", "{{json .}}")
	var row map[string]string
	if err := json.Unmarshal([]byte(out), &row); err != nil {
		t.Fatalf("json output %q: %v", out, err)
	}
	if row["ID"] != "4a7f7eebae0f" || row["Names"] != "web" || row["Command"] != `"/docker-entrypoint.…"` {
		t.Errorf("json row: %v", row)
	}
	if !strings.HasPrefix(out, `{"Command":`) {
		t.Errorf("json keys not in docker order: %s", out)
	}
}

func TestImagesTable(t *testing.T) {
	d := newFakeDaemon(t)
	now := time.Now()
	d.handle("GET /images/json", jsonHandler([]image.Summary{
		{
			ID:       "sha256:a6bd71f48f6839d9faae1f29d3babef831e76bc213107682c5cc80f0cbb30866",
			RepoTags: []string{"alpine:latest", "localhost:5000/alpine:3.20"},
			Created:  now.Add(-3 * 7 * 24 * time.Hour).Unix(),
			Size:     7800000, Containers: -1, SharedSize: -1,
		},
		{
			ID:      "sha256:ffffffffffff0000000000000000000000000000000000000000000000000000",
			Created: now.Add(-2 * time.Hour).Unix(),
			Size:    1234, Containers: -1, SharedSize: -1,
		},
	}))

	out, errOut, code := runCLI(t, d.host, "", "images")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "" +
		"REPOSITORY              TAG       IMAGE ID       CREATED       SIZE\n" +
		"alpine                  latest    a6bd71f48f68   3 weeks ago   7.8MB\n" +
		"localhost:5000/alpine   3.20      a6bd71f48f68   3 weeks ago   7.8MB\n" +
		"<none>                  <none>    ffffffffffff   2 hours ago   1.23kB\n"
	if out != want {
		t.Errorf("images output:\n%s\nwant:\n%s", out, want)
	}

	out, _, _ = runCLI(t, d.host, "", "image", "ls", "-q")
	if want := "a6bd71f48f68\na6bd71f48f68\nffffffffffff\n"; out != want {
		t.Errorf("images -q: %q", out)
	}

	out, _, _ = runCLI(t, d.host, "", "images", "--format", "{{.Repository}}:{{.Tag}}", "alpine")
	if want := "alpine:latest\nlocalhost:5000/alpine:3.20\n<none>:<none>\n"; out != want {
		t.Errorf("images template: %q", out)
	}
	if calls := d.called("GET /images/json"); !strings.Contains(calls[len(calls)-1], "reference") {
		t.Errorf("reference filter not sent: %v", calls)
	}
}

func fixtureNetworks() []network.Summary {
	mk := func(id, name, driver string) network.Summary {
		return network.Summary{Network: network.Network{ID: id, Name: name, Driver: driver, Scope: "local"}}
	}
	return []network.Summary{
		mk("9f3b2c1d0e4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c", "net10", "bridge"),
		mk("1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef", "bridge", "bridge"),
		mk("abcdefabcdef0123456789012345678901234567890123456789012345678901", "net2", "bridge"),
		mk("00000000000011111111111111111111111111111111111111111111111111ff", "host", "host"),
	}
}

func TestNetworkLs(t *testing.T) {
	d := newFakeDaemon(t)
	d.handle("GET /networks", jsonHandler(fixtureNetworks()))

	out, errOut, code := runCLI(t, d.host, "", "network", "ls")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "" +
		"NETWORK ID     NAME      DRIVER    SCOPE\n" +
		"1234567890ab   bridge    bridge    local\n" +
		"000000000000   host      host      local\n" +
		"abcdefabcdef   net2      bridge    local\n" +
		"9f3b2c1d0e4a   net10     bridge    local\n"
	if out != want {
		t.Errorf("network ls:\n%s\nwant:\n%s", out, want)
	}

	out, _, _ = runCLI(t, d.host, "", "network", "ls", "-q", "-f", "driver=bridge")
	if want := "1234567890ab\n000000000000\nabcdefabcdef\n9f3b2c1d0e4a\n"; out != want {
		t.Errorf("network ls -q: %q", out)
	}

	out, _, _ = runCLI(t, d.host, "", "network", "ls", "--format", "{{.Name}} {{.IPv6}}")
	if !strings.HasPrefix(out, "bridge false\nhost false\n") {
		t.Errorf("network ls template: %q", out)
	}
}

func TestWriteListBadTemplate(t *testing.T) {
	d := newFakeDaemon(t)
	d.handle("GET /networks", jsonHandler(fixtureNetworks()))
	_, errOut, code := runCLI(t, d.host, "", "network", "ls", "--format", "{{.Nope")
	if code != 1 || !strings.Contains(errOut, "template parsing error") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}
