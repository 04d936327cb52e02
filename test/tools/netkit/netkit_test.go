package main

import (
	"bytes"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func listenTCP(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func TestPingEcho(t *testing.T) {
	for _, tc := range []struct {
		chunks []string
		want   string
	}{
		{[]string{"PING\n"}, "+PONG\r\n"},
		{[]string{"PING\r\n"}, "+PONG\r\n"},
		{[]string{"PI", "NG", "\r", "\n"}, "+PONG\r\n"},
		{[]string{"hello\n"}, "hello\n"},
		{[]string{"PINGS\n"}, "PINGS\n"},
		{[]string{"xPING\n"}, "xPING\n"},
		{[]string{"a PING\nPING\nb\n"}, "a PING\n+PONG\r\nb\n"},
		{[]string{"PIN"}, "PIN"}, // held back, then flushed at EOF
		{[]string{"partial"}, "partial"},
	} {
		var e pingEcho
		var got []byte
		for _, c := range tc.chunks {
			got = append(got, e.feed([]byte(c))...)
		}
		got = append(got, e.flush()...)
		if string(got) != tc.want {
			t.Errorf("%q: got %q, want %q", tc.chunks, got, tc.want)
		}
	}
}

func TestPingEchoStreamsNonPingData(t *testing.T) {
	var e pingEcho
	if got := e.feed([]byte("hel")); string(got) != "hel" {
		t.Fatalf("non-PING prefix held back: got %q", got)
	}
	if got := e.feed([]byte("P")); string(got) != "P" {
		t.Fatalf("mid-line P held back: got %q", got)
	}
}

func TestEchoLoopback(t *testing.T) {
	var log bytes.Buffer
	ln := listenTCP(t)
	go serveEcho(ln, false, &syncWriter{w: &log})
	got, err := dial("tcp", ln.Addr().String(), "PING\n", 2*time.Second, 1)
	if err != nil || string(got) != "+PONG\r\n" {
		t.Fatalf("PING: got %q, %v", got, err)
	}
	got, err = dial("tcp", ln.Addr().String(), "hello world\n", 2*time.Second, 1)
	if err != nil || string(got) != "hello world\n" {
		t.Fatalf("echo: got %q, %v", got, err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(log.String(), "conn from 127.0.0.1:") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(log.String(), "conn from 127.0.0.1:") {
		t.Errorf("connection not logged: %q", log.String())
	}
}

func TestEchoBanner(t *testing.T) {
	ln := listenTCP(t)
	go serveEcho(ln, true, io.Discard)
	var out, errb bytes.Buffer
	code := run([]string{"dial", ln.Addr().String(), "-lines", "2", "-t", "2s"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !regexp.MustCompile(`^from 127\.0\.0\.1:\d+\n\+PONG\r\n$`).MatchString(out.String()) {
		t.Fatalf("got %q", out.String())
	}
}

func TestEchoUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go serveEchoUDP(pc, true, io.Discard)
	got, err := dial("udp", pc.LocalAddr().String(), "PING\n", 2*time.Second, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^from 127\.0\.0\.1:\d+\n\+PONG\r\n$`).Match(got) {
		t.Fatalf("got %q", got)
	}
}

func TestDialFailure(t *testing.T) {
	ln := listenTCP(t)
	addr := ln.Addr().String()
	ln.Close()
	var out, errb bytes.Buffer
	if code := run([]string{"dial", "-t", "1s", addr}, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(errb.String(), "refused") {
		t.Errorf("error not printed: %q", errb.String())
	}
}

func TestDialNoReply(t *testing.T) {
	ln := listenTCP(t)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			time.Sleep(time.Second)
			c.Close()
		}
	}()
	start := time.Now()
	_, err := dial("tcp", ln.Addr().String(), "PING\n", 200*time.Millisecond, 1)
	if err == nil || !strings.Contains(err.Error(), "no reply") {
		t.Fatalf("got %v, want no reply", err)
	}
	if time.Since(start) > 900*time.Millisecond {
		t.Errorf("timeout not honoured: %v", time.Since(start))
	}
}

func TestRR(t *testing.T) {
	ln := listenTCP(t)
	go serveRR(ln)
	lat, err := rrClient(ln.Addr().String(), 500)
	if err != nil {
		t.Fatal(err)
	}
	if len(lat) != 500 {
		t.Fatalf("got %d samples", len(lat))
	}
	if p50, p99 := percentile(lat, 50), percentile(lat, 99); p50 <= 0 || p99 < p50 {
		t.Fatalf("p50 %v p99 %v", p50, p99)
	}
	var out bytes.Buffer
	if code := run([]string{"rr-client", "-n", "50", ln.Addr().String()}, &out, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !regexp.MustCompile(`^n=50 p50_us=[0-9.]+ p99_us=[0-9.]+\n$`).MatchString(out.String()) {
		t.Fatalf("output %q", out.String())
	}
}

func TestTput(t *testing.T) {
	ln := listenTCP(t)
	go serveTput(ln, io.Discard)
	var out, errb bytes.Buffer
	if code := run([]string{"tput-client", "-d", "200ms", ln.Addr().String()}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	m := regexp.MustCompile(`^bytes=(\d+) seconds=([0-9.]+) gbit_per_s=([0-9.]+)\n$`).FindStringSubmatch(out.String())
	if m == nil || m[1] == "0" {
		t.Fatalf("output %q", out.String())
	}
}

// dnsServer answers A queries for redis. and NXDOMAIN for anything else.
func dnsServer(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if q.Question[0].Name == "redis." {
			rr, _ := dns.NewRR("redis. 600 IN A 10.0.0.2")
			m.Answer = append(m.Answer, rr)
		} else {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

func TestDNSBench(t *testing.T) {
	addr := dnsServer(t)
	for _, newSock := range []bool{false, true} {
		r, err := dnsBench(addr, "redis", 200, time.Second, newSock)
		if err != nil || r.failures != 0 || len(r.lat) != 200 {
			t.Fatalf("newsock=%v: %d failures (%v), %d samples, %v", newSock, r.failures, r.firstErr, len(r.lat), err)
		}
	}
	r, err := dnsBench(addr, "nosuch", 20, time.Second, false)
	if err != nil || r.failures != 20 || !strings.Contains(r.firstErr.Error(), "NXDOMAIN") {
		t.Fatalf("unknown name: %d failures, %v, %v", r.failures, r.firstErr, err)
	}
	var out bytes.Buffer
	if code := run([]string{"dnsbench", "-n", "10", "-server", addr, "-name", "redis"}, &out, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !regexp.MustCompile(`^n=10 failures=0 p50_us=[0-9.]+ p99_us=[0-9.]+\n$`).MatchString(out.String()) {
		t.Fatalf("output %q", out.String())
	}
}

func TestDNSBenchTimeout(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close() // open but silent
	r, err := dnsBench(pc.LocalAddr().String(), "redis", 2, 50*time.Millisecond, false)
	if err != nil || r.failures != 2 || percentile(r.lat, 50) < 50*time.Millisecond {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestResolvConf(t *testing.T) {
	p := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(p, []byte("# generated\nsearch example\nnameserver 127.0.0.11\nnameserver 10.0.0.1\noptions ndots:0\n"), 0o644)
	if s, err := resolvConfServer(p); err != nil || s != "127.0.0.11" {
		t.Fatalf("got %q, %v", s, err)
	}
	os.WriteFile(p, []byte("search x\n"), 0o644)
	if _, err := resolvConfServer(p); err == nil {
		t.Fatal("no error without a nameserver")
	}
	for in, want := range map[string]string{
		"127.0.0.11": "127.0.0.11:53", "10.0.0.1:5353": "10.0.0.1:5353",
		"fd00::1": "[fd00::1]:53", "[fd00::1]:53": "[fd00::1]:53",
	} {
		if got := withPort(in, "53"); got != want {
			t.Errorf("withPort(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseArgsInterspersed(t *testing.T) {
	fs := newFlags("x", io.Discard)
	d := fs.Duration("t", time.Second, "")
	u := fs.Bool("udp", false, "")
	pos, err := parseArgs(fs, []string{"host:1", "-t", "3s", "-udp"})
	if err != nil || len(pos) != 1 || pos[0] != "host:1" || *d != 3*time.Second || !*u {
		t.Fatalf("pos %q t %v udp %v err %v", pos, *d, *u, err)
	}
	if _, err := parseArgs(newFlags("y", io.Discard), []string{"-nosuch"}); err == nil {
		t.Fatal("unknown flag accepted")
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i))
	}
	if p := percentile(ds, 50); p != 50 {
		t.Errorf("p50 = %v", p)
	}
	if p := percentile(ds, 99); p != 99 {
		t.Errorf("p99 = %v", p)
	}
	if p := percentile(ds[:1], 99); p != 100 {
		t.Errorf("single p99 = %v", p)
	}
	if percentile(nil, 50) != 0 {
		t.Error("empty")
	}
}

func TestUnescapeAndHTTP(t *testing.T) {
	if got := unescape(`GET / HTTP/1.0\r\n\r\n`); got != "GET / HTTP/1.0\r\n\r\n" {
		t.Errorf("unescape: %q", got)
	}
	rec := httptest.NewRecorder()
	bodyHandler("hi\n").ServeHTTP(rec, httptest.NewRequest("GET", "/any", nil))
	if rec.Code != 200 || rec.Body.String() != "hi\n" {
		t.Errorf("http: %d %q", rec.Code, rec.Body.String())
	}
}

func TestUnknownCommand(t *testing.T) {
	var errb bytes.Buffer
	if code := run([]string{"nosuch"}, io.Discard, &errb); code != 2 || !strings.Contains(errb.String(), "usage") {
		t.Fatalf("exit %d: %q", code, errb.String())
	}
}
