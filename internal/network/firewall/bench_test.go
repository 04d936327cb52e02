package firewall

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
)

// BenchmarkAddPorts measures publishing one port with 0, 1000 and 10000
// mappings already in the maps: the cost must not grow with the count,
// since adding a mapping only adds a hash map element.
func BenchmarkAddPorts(b *testing.B) {
	requireRoot(b)
	for _, existing := range []int{0, 1000, 10000} {
		b.Run(fmt.Sprintf("existing=%d", existing), func(b *testing.B) {
			ns := newNetNS(b, "bench")
			fw := newTestFirewall(b, ns)
			ctx := context.Background()
			if err := fw.Init(ctx); err != nil {
				b.Fatal(err)
			}
			var ms []PortMapping
			for i := range existing {
				ms = append(ms, PortMapping{Proto: "tcp", HostPort: uint16(10000 + i),
					ContainerIP: netip.AddrFrom4([4]byte{172, 20, byte(i / 250), byte(2 + i%250)}), ContainerPort: 80})
			}
			if err := fw.AddPorts(ctx, ms); err != nil {
				b.Fatal(err)
			}
			m := []PortMapping{{Proto: "tcp", HostPort: 40000, ContainerIP: addr("172.21.0.2"), ContainerPort: 80}}
			b.ResetTimer()
			for range b.N {
				if err := fw.AddPorts(ctx, m); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := fw.DelPorts(ctx, m); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
