package network

import (
	"net/netip"
	"testing"

	"github.com/berth-project/berth/internal/network/firewall"
)

func TestExpand(t *testing.T) {
	ip := netip.MustParseAddr("172.17.0.2")
	tests := []struct {
		name                     string
		host, hostEnd, ctr, cEnd uint16
		want                     [][3]uint16 // host, hostEnd, container
	}{
		{"single", 80, 80, 8080, 8080, [][3]uint16{{80, 80, 8080}}},
		{"same range", 20000, 20999, 20000, 20999, [][3]uint16{{20000, 20999, 20000}}},
		{"range to one port", 8000, 8010, 80, 80, [][3]uint16{{8000, 8010, 80}}},
		{"shifted range", 8000, 8002, 9000, 9002, [][3]uint16{{8000, 8000, 9000}, {8001, 8001, 9001}, {8002, 8002, 9002}}},
		{"top of the port space", 65534, 65535, 1, 2, [][3]uint16{{65534, 65534, 1}, {65535, 65535, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pm := firewall.PortMapping{Proto: "tcp", HostPort: tt.host, HostPortEnd: tt.hostEnd, ContainerIP: ip, ContainerPort: tt.ctr}
			got := expand(pm, tt.cEnd)
			if len(got) != len(tt.want) {
				t.Fatalf("expand(%v, %d) = %v, want %d mappings", pm, tt.cEnd, got, len(tt.want))
			}
			for i, w := range tt.want {
				if g := got[i]; g.HostPort != w[0] || g.HostPortEnd != w[1] || g.ContainerPort != w[2] {
					t.Fatalf("expand(%v, %d)[%d] = %v, want %v", pm, tt.cEnd, i, g, w)
				}
			}
		})
	}
}
