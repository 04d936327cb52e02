package dns

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// benchServer starts a network on gw with count endpoints plus a client
// endpoint at client, and returns the server address and one packed A query
// per endpoint name.
func benchServer(b *testing.B, gw, client netip.Addr, count int) (netip.AddrPort, [][]byte) {
	b.Helper()
	s, port := newTestServer(b, Options{}, gw)
	addNetwork(b, s, "n", false, gw)
	s.SetEndpoint("n", Endpoint{ContainerID: "client", Name: "client", IPv4: client})
	queries := make([][]byte, count)
	for i := range count {
		name := fmt.Sprintf("svc-%04d", i)
		s.SetEndpoint("n", Endpoint{
			ContainerID: fmt.Sprintf("%064x", i), Name: name, Aliases: []string{name + "-alias"},
			IPv4: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}),
			IPv6: netip.AddrFrom16([16]byte{0xfd, 15: byte(i)}),
		})
		queries[i] = packQuery(b, new(mdns.Msg).SetQuestion(name+".", mdns.TypeA))
	}
	return netip.AddrPortFrom(gw, uint16(port)), queries
}

// BenchmarkLocalQueryUDP measures a client's round trip for a local A query
// over loopback, reporting the median and 99th percentile besides the mean.
func BenchmarkLocalQueryUDP(b *testing.B) {
	for i, count := range []int{1, 1000} {
		b.Run(fmt.Sprintf("endpoints=%d", count), func(b *testing.B) {
			gw := netip.AddrFrom4([4]byte{127, 0, 60, byte(i + 1)})
			client := netip.AddrFrom4([4]byte{127, 0, 61, byte(i + 1)})
			server, queries := benchServer(b, gw, client, count)
			c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(client, 0)), net.UDPAddrFromAddrPort(server))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			buf := make([]byte, 512)
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer() // b.N is needed up front to size lat
			for n := range b.N {
				start := time.Now()
				if _, err := c.Write(queries[n%len(queries)]); err != nil {
					b.Fatal(err)
				}
				m, err := c.Read(buf)
				if err != nil || m < headerLen || buf[7] != 1 {
					b.Fatalf("reply %x: %v", buf[:m], err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns")
		})
	}
}

// BenchmarkLocalQueryUDPParallel runs many clients at once against one
// network.
func BenchmarkLocalQueryUDPParallel(b *testing.B) {
	gw, client := ip("127.0.62.1"), ip("127.0.62.2")
	server, queries := benchServer(b, gw, client, 1000)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(client, 0)), net.UDPAddrFromAddrPort(server))
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		buf := make([]byte, 512)
		for n := 0; pb.Next(); n++ {
			if _, err := c.Write(queries[n%len(queries)]); err != nil {
				b.Error(err)
				return
			}
			if _, err := c.Read(buf); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRespond measures the server's work per local query without the
// sockets.
func BenchmarkRespond(b *testing.B) {
	s, n := testNet(b)
	for i := range 1000 {
		s.SetEndpoint("n", Endpoint{ContainerID: fmt.Sprintf("%064x", i), Name: fmt.Sprintf("c%d", i),
			IPv4: netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)})})
	}
	tests := []struct {
		name  string
		qname string
		qtype uint16
	}{
		{"A", "WEB.", mdns.TypeA},
		{"shared alias ANY", "svc.", mdns.TypeANY},
		{"PTR", "2.0.0.10.in-addr.arpa.", mdns.TypePTR},
	}
	for _, tc := range tests {
		b.Run(tc.name, func(b *testing.B) {
			req := packQuery(b, new(mdns.Msg).SetQuestion(tc.qname, tc.qtype).SetEdns0(1232, false))
			src := netip.MustParseAddr("10.2.0.7")
			sc := &scratch{out: make([]byte, 0, maxUDPReply)}
			b.ReportAllocs()
			for b.Loop() {
				if v, _ := s.respond(n, src, req, sc, false); v != verdictReply || sc.out[7] == 0 {
					b.Fatalf("verdict %d reply %x", v, sc.out)
				}
			}
		})
	}
}
