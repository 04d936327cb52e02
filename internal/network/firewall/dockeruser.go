package firewall

import (
	"os"

	"context"
	"errors"
	"fmt"
	"github.com/google/nftables"
	"os/exec"
	"strings"
)

// Docker Engine sets the policy of iptables' FORWARD chain to drop, which
// would also drop berth's forwarded traffic; the DOCKER-USER chain it jumps
// to first is where Docker lets others accept traffic. The rules are
// managed with the iptables binaries rather than over netlink so that they
// stay in the format iptables-nft (or iptables-legacy) itself parses.
// berth's own forward chain still drops what berth forbids: a packet must
// be accepted by every base chain.

const dockerUserChain = "DOCKER-USER"

// dockerUserRules are the rule specs for bridge: everything out of the
// bridge, and into it replies plus DNATed (published port) connections.
func (f *Firewall) dockerUserRules(bridge string) [][]string {
	tag := []string{"-m", "comment", "--comment", f.dockerUserTag(), "-j", "ACCEPT"}
	return [][]string{
		append([]string{"-i", bridge}, tag...),
		append([]string{"-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED,DNAT"}, tag...),
	}
}

// dockerUserTag marks berth's rules so Remove finds them all.
func (f *Firewall) dockerUserTag() string { return "berth:" + f.table.Name }

// AllowInDockerUser accepts traffic of bridge in Docker's DOCKER-USER
// chains (iptables and ip6tables). It does nothing when no iptables binary
// or no DOCKER-USER chain exists, and is idempotent.
func (f *Firewall) AllowInDockerUser(ctx context.Context, bridge string) error {
	return f.editDockerUser(ctx, bridge, true)
}

// RemoveFromDockerUser removes what AllowInDockerUser added for bridge.
func (f *Firewall) RemoveFromDockerUser(ctx context.Context, bridge string) error {
	return f.editDockerUser(ctx, bridge, false)
}

func (f *Firewall) editDockerUser(ctx context.Context, bridge string, insert bool) error {
	if err := validIfname(bridge); err != nil {
		return fmt.Errorf("docker-user: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for _, bin := range f.dockerUserBinaries(ctx) {
		for _, spec := range f.dockerUserRules(bridge) {
			if err := f.ensureRule(ctx, bin, spec, insert); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// ensureRule inserts (or deletes) spec unless it is already there (gone).
func (f *Firewall) ensureRule(ctx context.Context, bin string, spec []string, insert bool) error {
	present := f.iptables(ctx, bin, append([]string{"-C", dockerUserChain}, spec...)...) == nil
	switch {
	case insert && !present:
		return f.iptables(ctx, bin, append([]string{"-I", dockerUserChain}, spec...)...)
	case !insert && present:
		return f.iptables(ctx, bin, append([]string{"-D", dockerUserChain}, spec...)...)
	}
	return nil
}

// dockerUserBinaries returns the iptables binaries whose DOCKER-USER chain
// exists in the firewall's namespace.
func (f *Firewall) dockerUserBinaries(ctx context.Context) []string {
	// Asking the kernel over netlink costs microseconds; running iptables
	// costs milliseconds, so it runs only when Docker's chain is there.
	if !f.dockerUserMayExist() {
		return nil
	}
	var out []string
	for _, name := range []string{"iptables", "ip6tables"} {
		bin, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		if f.iptables(ctx, bin, "-n", "-L", dockerUserChain) != nil {
			continue
		}
		out = append(out, bin)
	}
	return out
}

// purgeDockerUser deletes every DOCKER-USER rule tagged by this firewall.
func (f *Firewall) purgeDockerUser(ctx context.Context) error {
	var errs []error
	for _, bin := range f.dockerUserBinaries(ctx) {
		out, err := f.iptablesOutput(ctx, bin, "-S", dockerUserChain)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, line := range strings.Split(out, "\n") {
			args, ok := f.taggedRule(line)
			if !ok {
				continue
			}
			if err := f.iptables(ctx, bin, append([]string{"-D"}, args[1:]...)...); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// taggedRule parses a line of `iptables -S` and reports whether it is one
// of this firewall's rules. iptables quotes the comment; the tag contains
// no spaces, so unquoting fields is enough.
func (f *Firewall) taggedRule(line string) ([]string, bool) {
	args := strings.Fields(line)
	if len(args) < 2 || args[0] != "-A" {
		return nil, false
	}
	tagged := false
	for i, a := range args {
		args[i] = strings.Trim(a, `"`)
		tagged = tagged || args[i] == f.dockerUserTag()
	}
	return args, tagged
}

func (f *Firewall) iptables(ctx context.Context, bin string, args ...string) error {
	_, err := f.iptablesOutput(ctx, bin, args...)
	return err
}

// iptablesOutput runs bin in the firewall's network namespace.
func (f *Firewall) iptablesOutput(ctx context.Context, bin string, args ...string) (string, error) {
	args = append([]string{"-w"}, args...)
	var out []byte
	err := inNetNS(f.netns, func() error {
		var err error
		out, err = exec.CommandContext(ctx, bin, args...).CombinedOutput()
		return err
	})
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// dockerUserMayExist reports whether a DOCKER-USER chain can exist: in
// iptables-nft's "filter" tables, or in legacy iptables when it is loaded.
func (f *Firewall) dockerUserMayExist() bool {
	if data, err := os.ReadFile("/proc/net/ip_tables_names"); err == nil && strings.Contains(string(data), "filter") {
		return true
	}
	c, err := f.conn()
	if err != nil {
		return true
	}
	for _, fam := range []nftables.TableFamily{nftables.TableFamilyIPv4, nftables.TableFamilyIPv6} {
		chains, err := c.ListChainsOfTableFamily(fam)
		if err != nil {
			return true
		}
		for _, ch := range chains {
			if ch.Name == dockerUserChain && ch.Table != nil && ch.Table.Name == "filter" {
				return true
			}
		}
	}
	return false
}
