package portmap

import (
	"net/netip"
	"testing"
)

func TestParseSpec(t *testing.T) {
	v4 := netip.MustParseAddr("127.0.0.1")
	v6 := netip.MustParseAddr("::1")
	tests := []struct {
		spec string
		want Binding
	}{
		{"80", Binding{Proto: "tcp", ContainerPort: 80, ContainerPortEnd: 80}},
		{"8080:80", Binding{Proto: "tcp", HostPort: 8080, HostPortEnd: 8080, ContainerPort: 80, ContainerPortEnd: 80}},
		{"127.0.0.1:8080:80", Binding{Proto: "tcp", HostIP: v4, HostPort: 8080, HostPortEnd: 8080, ContainerPort: 80, ContainerPortEnd: 80}},
		{"127.0.0.1::80", Binding{Proto: "tcp", HostIP: v4, ContainerPort: 80, ContainerPortEnd: 80}},
		{"[::1]:8080:80", Binding{Proto: "tcp", HostIP: v6, HostPort: 8080, HostPortEnd: 8080, ContainerPort: 80, ContainerPortEnd: 80}},
		{"::1:8080:80", Binding{Proto: "tcp", HostIP: v6, HostPort: 8080, HostPortEnd: 8080, ContainerPort: 80, ContainerPortEnd: 80}},
		{"[::1]::80/udp", Binding{Proto: "udp", HostIP: v6, ContainerPort: 80, ContainerPortEnd: 80}},
		{"8000-8010:80-90", Binding{Proto: "tcp", HostPort: 8000, HostPortEnd: 8010, ContainerPort: 80, ContainerPortEnd: 90}},
		{"8000-8010:80", Binding{Proto: "tcp", HostPort: 8000, HostPortEnd: 8010, ContainerPort: 80, ContainerPortEnd: 80}},
		{"80-90", Binding{Proto: "tcp", ContainerPort: 80, ContainerPortEnd: 90}},
		{"80/udp", Binding{Proto: "udp", ContainerPort: 80, ContainerPortEnd: 80}},
		{"53:53/udp", Binding{Proto: "udp", HostPort: 53, HostPortEnd: 53, ContainerPort: 53, ContainerPortEnd: 53}},
		{"6379:6379/tcp", Binding{Proto: "tcp", HostPort: 6379, HostPortEnd: 6379, ContainerPort: 6379, ContainerPortEnd: 6379}},
		{"9000:9000/sctp", Binding{Proto: "sctp", HostPort: 9000, HostPortEnd: 9000, ContainerPort: 9000, ContainerPortEnd: 9000}},
		{"80/UDP", Binding{Proto: "udp", ContainerPort: 80, ContainerPortEnd: 80}},
		{"80/", Binding{Proto: "tcp", ContainerPort: 80, ContainerPortEnd: 80}},
		{"0:80", Binding{Proto: "tcp", ContainerPort: 80, ContainerPortEnd: 80}},
		{":80", Binding{Proto: "tcp", ContainerPort: 80, ContainerPortEnd: 80}},
		{"65535:65535", Binding{Proto: "tcp", HostPort: 65535, HostPortEnd: 65535, ContainerPort: 65535, ContainerPortEnd: 65535}},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseSpec(tt.spec)
			if err != nil || len(got) != 1 || got[0] != tt.want {
				t.Fatalf("ParseSpec(%q) = %+v, %v, want %+v", tt.spec, got, err, tt.want)
			}
		})
	}
}

func TestParseSpecErrors(t *testing.T) {
	tests := []struct {
		spec string
		want string
	}{
		{"", "no port specified: <empty>"},
		{"8080:", "no port specified: 8080:<empty>"},
		{"abc", "invalid containerPort: abc"},
		{"0", "invalid containerPort: 0"},
		{"65536", "invalid containerPort: 65536"},
		{"90-80", "invalid containerPort: 90-80"},
		{"+80", "invalid containerPort: +80"},
		{"80-", "invalid containerPort: 80-"},
		{"x:80", "invalid hostPort: x"},
		{"70000:80", "invalid hostPort: 70000"},
		{"8010-8000:80", "invalid hostPort: 8010-8000"},
		{"127.0.0.1:80", "invalid hostPort: 127.0.0.1"},
		{"80/icmp", "invalid proto: icmp"},
		{"80/udp/x", "invalid proto: udp/x"},
		{"8000-8005:80-90", "invalid ranges specified for container and host Ports: 80-90 and 8000-8005"},
		{"8080:80-90", "invalid ranges specified for container and host Ports: 80-90 and 8080"},
		{"1.2.3:80:80", "invalid IP address: 1.2.3"},
		{"[::1:80:80", "invalid IP address: [::1"},
		{"[fe80::1%eth0]:80:80", "invalid IP address: [fe80::1%eth0]"},
		{"localhost:80:80", "invalid IP address: localhost"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseSpec(tt.spec)
			if err == nil || err.Error() != tt.want {
				t.Errorf("ParseSpec(%q) = %+v, %v, want error %q", tt.spec, got, err, tt.want)
			}
		})
	}
}

func TestBindingString(t *testing.T) {
	tests := []struct {
		spec string
		want string
	}{
		{"80", "80/tcp"},
		{"127.0.0.1::80", "127.0.0.1::80/tcp"},
		{"[::1]:8080-8081:80-81/udp", "[::1]:8080-8081:80-81/udp"},
		{"8000-8010:80", "8000-8010:80/tcp"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			b, err := ParseSpec(tt.spec)
			if err != nil {
				t.Fatalf("ParseSpec(%q) = %v", tt.spec, err)
			}
			if got := b[0].String(); got != tt.want {
				t.Errorf("ParseSpec(%q).String() = %q, want %q", tt.spec, got, tt.want)
			}
		})
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"80", "8080:80", "127.0.0.1:8080:80", "127.0.0.1::80", "[::1]:8080:80",
		"8000-8010:80-90", "8000-8010:80", "80/udp", "53:53/udp", "6379:6379/tcp", "::1:1:2", "[::]::1-2/sctp"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		got, err := ParseSpec(spec)
		if err != nil {
			return
		}
		if len(got) != 1 {
			t.Fatalf("ParseSpec(%q) = %d bindings, want 1", spec, len(got))
		}
		b := got[0]
		switch {
		case b.Proto != "tcp" && b.Proto != "udp" && b.Proto != "sctp":
			t.Fatalf("ParseSpec(%q).Proto = %q", spec, b.Proto)
		case b.ContainerPort == 0 || b.ContainerPortEnd < b.ContainerPort:
			t.Fatalf("ParseSpec(%q) container ports = %d-%d", spec, b.ContainerPort, b.ContainerPortEnd)
		case b.HostPortEnd < b.HostPort || (b.HostPort == 0) != (b.HostPortEnd == 0):
			t.Fatalf("ParseSpec(%q) host ports = %d-%d", spec, b.HostPort, b.HostPortEnd)
		case b.HostPort != 0 && b.ContainerPort != b.ContainerPortEnd &&
			b.HostPortEnd-b.HostPort != b.ContainerPortEnd-b.ContainerPort:
			t.Fatalf("ParseSpec(%q) ranges differ in size: %+v", spec, b)
		case b.HostIP.Zone() != "":
			t.Fatalf("ParseSpec(%q).HostIP = %v, want no zone", spec, b.HostIP)
		}
		again, err := ParseSpec(b.String())
		if err != nil || again[0] != b {
			t.Fatalf("ParseSpec(%q) = %+v, %v, want %+v (round trip of %q)", b.String(), again, err, b, spec)
		}
	})
}
