package container

import (
	"net/netip"
	"strings"
	"testing"
)

func TestResolvConfUpstreamsSkipLoopback(t *testing.T) {
	rc := ParseResolvConf([]byte("# x\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp.example\noptions edns0 trust-ad\n"))
	ups := rc.Upstreams()
	if len(ups) != 1 || ups[0].String() != "10.0.0.2" {
		t.Fatalf("Upstreams() = %v, want [10.0.0.2]", ups)
	}
	if got := string(rc.Render()); !strings.Contains(got, "search corp.example\n") || !strings.Contains(got, "options edns0 trust-ad\n") {
		t.Fatalf("Render() = %q", got)
	}
}

func TestParseExtraHost(t *testing.T) {
	gw := netip.MustParseAddr("172.18.0.1")
	tests := []struct {
		in, addr string
		wantErr  bool
	}{
		{"db:10.0.0.5", "10.0.0.5", false},
		{"v6:[::1]", "::1", false},
		{"v6b:fe80::1", "fe80::1", false},
		{"host.docker.internal:host-gateway", "172.18.0.1", false},
		{"bad", "", true},
		{"x:notanip", "", true},
	}
	for _, tt := range tests {
		e, err := ParseExtraHost(tt.in, gw)
		if (err != nil) != tt.wantErr || (!tt.wantErr && e.Addr != tt.addr) {
			t.Errorf("ParseExtraHost(%q) = %+v, %v; want addr %q, error %v", tt.in, e, err, tt.addr, tt.wantErr)
		}
	}
}

func TestCanMove(t *testing.T) {
	if !CanMove(Created, Running) || CanMove(Dead, Running) || CanMove(Removing, Running) {
		t.Fatal("transition table is wrong")
	}
}
