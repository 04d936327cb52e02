package network

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/network/ipam"
	"github.com/berth-project/berth/internal/store"
	"golang.org/x/sys/unix"
)

// nsWorker runs jobs on one goroutine whose thread has left for a network
// namespace of its own: nothing the jobs create is visible on the host, and
// it all goes with the thread. The thread is never unlocked, so the Go
// runtime ends it rather than reuse it in the wrong namespace. Every socket
// the manager opens on the create path (netlink, nftables, the DNS
// listeners, iptables child processes) is made on this thread.
type nsWorker struct{ jobs chan func() }

func startNSWorker(tb testing.TB) *nsWorker {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root for a network namespace")
	}
	w := &nsWorker{jobs: make(chan func())}
	ready := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ready <- fmt.Errorf("unshare network namespace: %w", err)
			return
		}
		ready <- nil
		for job := range w.jobs {
			job()
		}
	}()
	if err := <-ready; err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { close(w.jobs) })
	return w
}

func (w *nsWorker) do(fn func() error) error {
	errc := make(chan error, 1)
	w.jobs <- func() { errc <- fn() }
	return <-errc
}

// costBed is a manager with `existing` user networks, on pools large
// enough for hundreds of them.
type costBed struct {
	m   *Manager
	st  *store.Store
	seq int
}

func newCostBed(dir string, existing int) (*costBed, error) {
	st, err := store.Open(filepath.Join(dir, "berth.db"))
	if err != nil {
		return nil, err
	}
	cfg := Config{
		Bridge: "bcost0", Table: "berthcost", NetNSDir: filepath.Join(dir, "netns"),
		ResolvConf:   filepath.Join(dir, "resolv.conf"),
		AddressPools: []ipam.AddressPool{{Base: netip.MustParsePrefix("10.0.0.0/8"), Size: 24}},
		DNS:          []netip.Addr{netip.MustParseAddr("192.0.2.53")},
		Logger:       slog.New(slog.DiscardHandler),
	}
	m, err := New(context.Background(), cfg, st, nil)
	if err != nil {
		st.Close()
		return nil, err
	}
	b := &costBed{m: m, st: st}
	for range existing {
		if _, err := b.create(); err != nil {
			b.close()
			return nil, err
		}
	}
	return b, nil
}

func (b *costBed) create() (string, error) {
	b.seq++
	return b.m.Create(context.Background(), CreateRequest{Name: fmt.Sprintf("net%d", b.seq)})
}

func (b *costBed) close() {
	b.m.Close()
	b.st.Close()
}

// sample times one create, then removes the network again so that the
// count of existing networks stays the same.
func (b *costBed) sample() (create, remove time.Duration, err error) {
	start := time.Now()
	id, err := b.create()
	if err != nil {
		return 0, 0, err
	}
	mid := time.Now()
	err = b.m.Remove(context.Background(), id)
	return mid.Sub(start), time.Since(mid), err
}

// startBed starts a manager with `existing` networks in a namespace of its
// own; it is closed when the test ends.
func startBed(tb testing.TB, existing int) (*nsWorker, *costBed) {
	tb.Helper()
	w := startNSWorker(tb)
	var bed *costBed
	dir := tb.TempDir()
	if err := w.do(func() (err error) { bed, err = newCostBed(dir, existing); return err }); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { w.do(func() error { bed.close(); return nil }) })
	return w, bed
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// interleaved times a create on each bed in turn, samples times over, so
// that load on the machine weighs on both alike; it returns the medians.
func interleaved(tb testing.TB, samples int, beds ...*costWorker) []time.Duration {
	tb.Helper()
	d := make([][]time.Duration, len(beds))
	for range samples {
		for i, b := range beds {
			if err := b.w.do(func() error {
				c, _, err := b.bed.sample()
				d[i] = append(d[i], c)
				return err
			}); err != nil {
				tb.Fatal(err)
			}
		}
	}
	out := make([]time.Duration, len(beds))
	for i := range d {
		out[i] = median(d[i])
	}
	return out
}

type costWorker struct {
	w   *nsWorker
	bed *costBed
}

func newCostWorker(tb testing.TB, existing int) *costWorker {
	w, bed := startBed(tb, existing)
	return &costWorker{w, bed}
}

// BenchmarkCreateNetwork reports the median cost of one network create
// and one remove with 0 and with 99 networks already there, and the ratio
// of the two creates measured in turns.
//
//	go test -run '^$' -bench CreateNetwork -benchtime 40x ./internal/network/
func BenchmarkCreateNetwork(b *testing.B) {
	for _, existing := range []int{0, 99} {
		b.Run(fmt.Sprintf("existing=%d", existing), func(b *testing.B) {
			w, bed := startBed(b, existing)
			var creates, removes []time.Duration
			b.ResetTimer()
			for range b.N {
				if err := w.do(func() error {
					c, r, err := bed.sample()
					creates, removes = append(creates, c), append(removes, r)
					return err
				}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(median(creates).Microseconds()), "create-p50-µs")
			b.ReportMetric(float64(median(removes).Microseconds()), "remove-p50-µs")
		})
	}
	b.Run("100th/first", func(b *testing.B) {
		first, hundredth := newCostWorker(b, 0), newCostWorker(b, 99)
		b.ResetTimer()
		m := interleaved(b, b.N, first, hundredth)
		b.ReportMetric(float64(m[1])/float64(m[0]), "ratio")
	})
}
