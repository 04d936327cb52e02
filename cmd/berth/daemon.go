package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/berth-project/berth/internal/api"
	"github.com/berth-project/berth/internal/daemon"
	"github.com/berth-project/berth/internal/network"
	"github.com/berth-project/berth/internal/network/ipam"
	"github.com/spf13/cobra"
)

type daemonFlags struct {
	hosts        []string
	dataRoot     string
	execRoot     string
	runtime      string
	shim         string
	logLevel     string
	bridge       string
	bip          string
	pools        []string
	table        string
	cgroupParent string
	dns          []string
}

func daemonCommand() *cobra.Command {
	var f daemonFlags
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the berth engine",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDaemon(cmd.Context(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVarP(&f.hosts, "host", "H", []string{"unix:///run/berth/berth.sock"}, "socket(s) to listen on (unix:// or tcp://)")
	fl.StringVar(&f.dataRoot, "data-root", "/var/lib/berth", "root of persisted state")
	fl.StringVar(&f.execRoot, "exec-root", "/run/berth", "root of runtime state")
	fl.StringVar(&f.runtime, "runtime", "runc", "OCI runtime binary")
	fl.StringVar(&f.shim, "shim", "", "path of berth-shim (default: next to this binary, then $PATH)")
	fl.StringVarP(&f.logLevel, "log-level", "l", "info", "log level (debug, info, warn, error)")
	fl.StringVarP(&f.bridge, "bridge", "b", "berth0", "bridge device of the default network")
	fl.StringVar(&f.bip, "bip", "", "gateway address and prefix of the default bridge, e.g. 172.30.0.1/16")
	fl.StringArrayVar(&f.pools, "default-address-pool", nil, "default address pool, e.g. base=10.10.0.0/16,size=24")
	fl.StringVar(&f.table, "nftables-table", "berth", "name of the nftables table berth owns")
	fl.StringVar(&f.cgroupParent, "cgroup-parent", "berth", "parent cgroup of containers")
	fl.StringArrayVar(&f.dns, "dns", nil, "DNS server to use (instead of the host's resolv.conf upstreams)")
	return cmd
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid --log-level %q", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func findBinary(given, name string) (string, error) {
	if given != "" {
		return exec.LookPath(given)
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return exec.LookPath(name)
}

func daemonConfig(f daemonFlags, log *slog.Logger) (daemon.Config, error) {
	runtimePath, err := exec.LookPath(f.runtime)
	if err != nil {
		return daemon.Config{}, fmt.Errorf("runtime %q not found (install Debian's runc): %w", f.runtime, err)
	}
	shimPath, err := findBinary(f.shim, "berth-shim")
	if err != nil {
		return daemon.Config{}, fmt.Errorf("berth-shim not found (build it with `make`): %w", err)
	}
	nc := network.Config{Bridge: f.bridge, Table: f.table, Logger: log}
	if f.bip != "" {
		if nc.BIP, err = netip.ParsePrefix(f.bip); err != nil {
			return daemon.Config{}, fmt.Errorf("invalid --bip %q: %w", f.bip, err)
		}
	}
	for _, s := range f.dns {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return daemon.Config{}, fmt.Errorf("invalid --dns %q: %w", s, err)
		}
		nc.DNS = append(nc.DNS, a)
	}
	for _, p := range f.pools {
		pool, err := ipam.ParseAddressPool(p)
		if err != nil {
			return daemon.Config{}, fmt.Errorf("invalid --default-address-pool %q: %w", p, err)
		}
		nc.AddressPools = append(nc.AddressPools, pool)
	}
	return daemon.Config{
		DataRoot: f.dataRoot, ExecRoot: f.execRoot, Runtime: runtimePath, ShimPath: shimPath,
		CgroupParent: f.cgroupParent, Network: nc, Logger: log,
	}, nil
}

func runDaemon(ctx context.Context, f daemonFlags) error {
	log, err := newLogger(f.logLevel)
	if err != nil {
		return err
	}
	cfg, err := daemonConfig(f, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	d, err := daemon.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	srv := &http.Server{Handler: api.New(d, version, log), ReadHeaderTimeout: 10 * time.Second}
	var listeners []net.Listener
	for _, h := range f.hosts {
		l, err := listen(h)
		if err != nil {
			return err
		}
		listeners = append(listeners, l)
		go srv.Serve(l)
		log.Info("API listening", "address", h)
	}
	log.Info("berth daemon started", "version", version, "data_root", f.dataRoot, "exec_root", f.execRoot)
	<-ctx.Done()
	log.Info("shutting down; running containers keep running")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	srv.Shutdown(shutdownCtx)
	return nil
}

// listen opens an API socket; a unix socket is mode 0660, owned by root.
func listen(addr string) (net.Listener, error) {
	proto, path, ok := strings.Cut(addr, "://")
	if !ok {
		return nil, fmt.Errorf("invalid --host %q: want unix:///path or tcp://host:port", addr)
	}
	switch proto {
	case "unix":
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		l, err := net.Listen("unix", path)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
		if err := os.Chmod(path, 0o660); err != nil {
			l.Close()
			return nil, err
		}
		return l, nil
	case "tcp":
		return net.Listen("tcp", path)
	}
	return nil, fmt.Errorf("invalid --host %q: unsupported protocol %s", addr, proto)
}
