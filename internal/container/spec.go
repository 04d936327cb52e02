// Package container turns a container's configuration into an OCI runtime
// bundle (spec generation is pure and unit-tested) and holds the lifecycle
// state machine and the runtime's exec/kill calls.
package container

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// SpecInput is everything spec generation needs; the daemon fills it from
// the image config and the create request.
type SpecInput struct {
	ID           string
	Rootfs       string
	Args         []string
	Env          []string
	Cwd          string
	UID, GID     uint32
	ExtraGIDs    []uint32
	Hostname     string
	Tty          bool
	NetNSPath    string // "" shares the host's network namespace
	HostsPath    string
	ResolvPath   string
	HostnamePath string
	CgroupParent string
	Privileged   bool
	CapAdd       []string
	CapDrop      []string
	Sysctls      map[string]string
	ReadonlyRoot bool
}

// DefaultCaps is Docker's default capability set.
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

var maskedPaths = []string{
	"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
	"/sys/devices/virtual/powercap",
}

var readonlyPaths = []string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

// Spec builds the OCI spec for in.
func Spec(in SpecInput) (*specs.Spec, error) {
	caps, err := capabilities(in)
	if err != nil {
		return nil, err
	}
	s := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: in.Rootfs, Readonly: in.ReadonlyRoot},
		Process: &specs.Process{
			Terminal: in.Tty,
			Args:     in.Args,
			Env:      in.Env,
			Cwd:      cwd(in.Cwd),
			User:     specs.User{UID: in.UID, GID: in.GID, AdditionalGids: in.ExtraGIDs},
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
		},
		Hostname: in.Hostname,
		Mounts:   mounts(in),
		Linux: &specs.Linux{
			Namespaces:  namespaces(in),
			CgroupsPath: filepath.Join("/", cgroupParent(in.CgroupParent), in.ID),
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
			Sysctl: in.Sysctls,
			// A private root: the host's later mounts (other containers'
			// rootfs and namespaces) do not propagate into this container,
			// so mounting costs the host the same however many containers run.
			RootfsPropagation: "rprivate",
		},
	}
	if !in.Privileged {
		s.Linux.MaskedPaths = maskedPaths
		s.Linux.ReadonlyPaths = readonlyPaths
		prof, err := seccomp.GetDefaultProfile(s)
		if err != nil {
			return nil, fmt.Errorf("seccomp profile: %w", err)
		}
		s.Linux.Seccomp = prof
	}
	return s, nil
}

func cwd(dir string) string {
	if dir == "" {
		return "/"
	}
	return dir
}

func cgroupParent(p string) string {
	if p == "" {
		return "berth"
	}
	return p
}

func capabilities(in SpecInput) ([]string, error) {
	if in.Privileged {
		return allCaps(), nil
	}
	set := map[string]bool{}
	for _, c := range defaultCaps {
		set[c] = true
	}
	for _, c := range in.CapDrop {
		if strings.EqualFold(c, "ALL") {
			clear(set)
			continue
		}
		delete(set, normalizeCap(c))
	}
	for _, c := range in.CapAdd {
		if strings.EqualFold(c, "ALL") {
			for _, a := range allCaps() {
				set[a] = true
			}
			continue
		}
		n := normalizeCap(c)
		if !knownCap(n) {
			return nil, fmt.Errorf("unknown capability: %q", c)
		}
		set[n] = true
	}
	var out []string
	for _, c := range allCaps() {
		if set[c] {
			out = append(out, c)
		}
	}
	return out, nil
}

func normalizeCap(c string) string {
	c = strings.ToUpper(c)
	if !strings.HasPrefix(c, "CAP_") {
		c = "CAP_" + c
	}
	return c
}

func knownCap(c string) bool {
	for _, a := range allCaps() {
		if a == c {
			return true
		}
	}
	return false
}

func allCaps() []string {
	return []string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
		"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
		"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
		"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
		"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
		"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
		"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
		"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
	}
}

func namespaces(in SpecInput) []specs.LinuxNamespace {
	ns := []specs.LinuxNamespace{
		{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace},
		{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
	}
	if in.NetNSPath != "" {
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: in.NetNSPath})
	}
	return ns
}

func mounts(in SpecInput) []specs.Mount {
	ms := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=67108864"}},
	}
	for _, f := range []struct{ src, dst string }{
		{in.HostsPath, "/etc/hosts"}, {in.ResolvPath, "/etc/resolv.conf"}, {in.HostnamePath, "/etc/hostname"},
	} {
		if f.src != "" {
			ms = append(ms, specs.Mount{Destination: f.dst, Type: "bind", Source: f.src, Options: []string{"rbind", "rprivate"}})
		}
	}
	return ms
}
