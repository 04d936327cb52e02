package walkthrough

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/test/e2e/harness"
)

const composeFile = `version: "2.4"
services:
  redis:
    image: busybox
    command: netkit echo -l :6379
  web:
    image: busybox
    depends_on: [redis]
    ports: ["8080:80"]
    command: >-
      sh -c 'mkdir -p /www;
      until netkit dial -t 1s redis:6379 > /www/redis.txt; do sleep 0.2; done;
      echo web is up;
      exec httpd -f -p 80 -h /www'
`

// TestCompose drives docker-compose (Debian's, a client of the Engine API
// written by others) against berth: a web service publishing a port that
// reaches redis by service name on the project's network.
func TestCompose(t *testing.T) {
	h := harness.NewHost(t)
	if _, err := lookPath("docker-compose"); err != nil {
		t.Skip("docker-compose not installed (make deps installs it)")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte(composeFile), 0o644); err != nil {
		t.Fatal(err)
	}
	compose := func(args ...string) harness.Result {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		full := append([]string{"--project-directory", dir, "-f", filepath.Join(dir, "docker-compose.yml"), "-p", "demo"}, args...)
		return harness.RunCmd(ctx, "", []string{"DOCKER_HOST=unix://" + h.Sock}, "docker-compose", full...)
	}
	mustCompose := func(args ...string) string {
		t.Helper()
		r := compose(args...)
		if r.Code != 0 {
			t.Fatalf("docker-compose %s: %v", strings.Join(args, " "), r)
		}
		return r.Stdout + r.Stderr
	}

	mustCompose("up", "-d")
	ps := mustCompose("ps")
	for _, svc := range []string{"demo_redis_1", "demo_web_1"} {
		if !strings.Contains(ps, svc) {
			t.Fatalf("docker-compose ps lacks %s:\n%s", svc, ps)
		}
	}
	harness.WaitFor(t, "web to reach redis by service name", 10*time.Second, func() bool {
		return strings.Contains(compose("logs", "web").Stdout, "web is up")
	})
	if out := mustCompose("exec", "-T", "web", "cat", "/www/redis.txt"); !strings.Contains(out, "+PONG") {
		t.Fatalf("web's answer from redis:6379 = %q, want +PONG", out)
	}
	if out := mustCompose("logs", "redis"); !strings.Contains(out, "conn from") {
		t.Fatalf("docker-compose logs redis = %q, want the connection it served", out)
	}
	var page string
	harness.WaitFor(t, "the published web port", 10*time.Second, func() bool {
		r := h.Sh("curl -s --max-time 2 http://127.0.0.1:8080/redis.txt")
		page = r.Stdout
		return r.Code == 0
	})
	if !strings.Contains(page, "+PONG") {
		t.Fatalf("page through the published port = %q", page)
	}

	mustCompose("down")
	if out := h.Must("ps", "-aq"); out != "" {
		t.Fatalf("containers left after docker-compose down: %s", out)
	}
	if out := h.Must("network", "ls", "--format", "{{.Name}}"); strings.Contains(out, "demo_default") {
		t.Fatalf("network left after docker-compose down:\n%s", out)
	}
	// Devices go a moment after `network rm` returns (the kernel's RCU grace period).
	harness.WaitFor(t, "no bridge or veth left after docker-compose down", 3*time.Second, func() bool {
		out := h.MustSh("ip -o link show")
		return !strings.Contains(out, "bt-") && !strings.Contains(out, "b-")
	})
	if out := h.MustSh("nft list map inet berth dnat4_any"); strings.Contains(out, "8080") {
		t.Fatalf("port map left after docker-compose down:\n%s", out)
	}
}
