package cli

import (
	"bufio"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// parseEnv resolves a -e value; a bare name takes the client's value when set.
func parseEnv(v string) string {
	if strings.Contains(v, "=") {
		return v
	}
	if val, ok := os.LookupEnv(v); ok {
		return v + "=" + val
	}
	return v
}

// readEnvFile reads a docker --env-file: KEY=VALUE lines taken literally,
// blank lines and # comments skipped, bare names taken from the environment.
func readEnvFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading env file: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimLeftFunc(sc.Text(), unicode.IsSpace)
		if n == 1 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, hasValue := strings.Cut(line, "=")
		if name == "" {
			return nil, fmt.Errorf("invalid env file %s line %d: no variable name", path, n)
		}
		if strings.ContainsFunc(name, unicode.IsSpace) {
			return nil, fmt.Errorf("variable '%s' contains whitespaces", name)
		}
		if hasValue {
			out = append(out, line)
		} else if val, ok := os.LookupEnv(name); ok {
			out = append(out, name+"="+val)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading env file %s: %w", path, err)
	}
	return out, nil
}

// parseLabels turns k=v (or bare k) values into a label map.
func parseLabels(values []string) map[string]string {
	if len(values) == 0 {
		return nil
	}
	m := make(map[string]string, len(values))
	for _, v := range values {
		k, val, _ := strings.Cut(v, "=")
		m[k] = val
	}
	return m
}

// parseRestart parses no|always|unless-stopped|on-failure[:max-retries].
func parseRestart(v string) (container.RestartPolicy, error) {
	if v == "" {
		return container.RestartPolicy{}, nil
	}
	name, count, hasCount := strings.Cut(v, ":")
	p := container.RestartPolicy{Name: container.RestartPolicyMode(name)}
	switch p.Name {
	case container.RestartPolicyDisabled, container.RestartPolicyAlways, container.RestartPolicyUnlessStopped:
		if hasCount {
			return p, fmt.Errorf("maximum retry count cannot be used with restart policy '%s'", name)
		}
	case container.RestartPolicyOnFailure:
		if hasCount {
			n, err := strconv.Atoi(count)
			if err != nil || n < 0 {
				return p, fmt.Errorf("invalid restart policy format: maximum retry count must be a non-negative integer")
			}
			p.MaximumRetryCount = n
		}
	default:
		return p, fmt.Errorf("invalid restart policy format: unknown policy %q", name)
	}
	return p, nil
}

// parseExtraHost normalizes host:ip or host=ip into the API's host:ip form.
func parseExtraHost(v string) (string, error) {
	name, ip, ok := strings.Cut(v, "=")
	if !ok {
		name, ip, ok = strings.Cut(v, ":")
	}
	if !ok || name == "" || ip == "" {
		return "", fmt.Errorf("bad format for add-host: %q", v)
	}
	ip = strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")
	if ip != "host-gateway" {
		if _, err := netip.ParseAddr(ip); err != nil {
			return "", fmt.Errorf("invalid IP address in add-host: %q", ip)
		}
	}
	return name + ":" + ip, nil
}

func parseAddrs(values []string, what string) ([]netip.Addr, error) {
	out := make([]netip.Addr, 0, len(values))
	for _, v := range values {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("%s is not an ip address: %q", what, v)
		}
		out = append(out, a)
	}
	return out, nil
}

func parseOptionalAddr(v, what string) (netip.Addr, error) {
	if v == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return a, fmt.Errorf("invalid %s address: %q", what, v)
	}
	return a, nil
}

// parseExpose adds --expose ports (single or ranges) to set.
func parseExpose(values []string, set network.PortSet) error {
	for _, v := range values {
		pr, err := network.ParsePortRange(v)
		if err != nil {
			return fmt.Errorf("invalid range format for --expose: %s, error: %w", v, err)
		}
		for p := range pr.All() {
			set[p] = struct{}{}
		}
	}
	return nil
}

// parsePublish parses -p specs ([ip:][hostPort:]containerPort[/proto], with
// ranges on either side) into exposed ports and port bindings.
func parsePublish(values []string, set network.PortSet, bindings network.PortMap) error {
	for _, v := range values {
		if err := addPublish(v, set, bindings); err != nil {
			return err
		}
	}
	return nil
}

func addPublish(spec string, set network.PortSet, bindings network.PortMap) error {
	rawIP, hostPort, ctrPort, proto := splitPublish(spec)
	if ctrPort == "" {
		return fmt.Errorf("no port specified: %s<empty>", spec)
	}
	var ip netip.Addr
	if rawIP != "" {
		a, err := netip.ParseAddr(rawIP)
		if err != nil {
			return fmt.Errorf("invalid IP address: %s", rawIP)
		}
		ip = a
	}
	suffix := ""
	if proto != "" {
		suffix = "/" + proto
	}
	cr, err := network.ParsePortRange(ctrPort + suffix)
	if err != nil {
		return fmt.Errorf("invalid containerPort: %s", ctrPort)
	}
	hostStart, hostEnd, err := parseHostRange(hostPort)
	if err != nil {
		return err
	}
	ctrCount := int(cr.End()) - int(cr.Start())
	hostCount := int(hostEnd) - int(hostStart)
	if hostPort != "" && hostCount != ctrCount && ctrCount != 0 {
		return fmt.Errorf("invalid ranges specified for container and host Ports: %s and %s", ctrPort, hostPort)
	}
	i := 0
	for p := range cr.All() {
		hp := hostPort
		if hostPort != "" && ctrCount != 0 {
			hp = strconv.Itoa(int(hostStart) + i)
		}
		set[p] = struct{}{}
		bindings[p] = append(bindings[p], network.PortBinding{HostIP: ip, HostPort: hp})
		i++
	}
	return nil
}

// splitPublish splits a -p spec into its parts; the IP may be bracketed.
func splitPublish(spec string) (ip, hostPort, ctrPort, proto string) {
	rest := spec
	if i := strings.LastIndex(rest, "/"); i >= 0 && !strings.Contains(rest[i:], "]") {
		rest, proto = rest[:i], rest[i+1:]
	}
	parts := strings.Split(rest, ":")
	n := len(parts)
	ctrPort = parts[n-1]
	switch n {
	case 1:
	case 2:
		hostPort = parts[0]
	default:
		ip = strings.Join(parts[:n-2], ":")
		hostPort = parts[n-2]
	}
	ip = strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")
	return ip, hostPort, ctrPort, proto
}

func parseHostRange(v string) (uint16, uint16, error) {
	if v == "" {
		return 0, 0, nil
	}
	lo, hi, isRange := strings.Cut(v, "-")
	start, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return 0, 0, fmt.Errorf("invalid hostPort: %s", v)
	}
	end := start
	if isRange {
		if end, err = strconv.ParseUint(hi, 10, 16); err != nil || end < start {
			return 0, 0, fmt.Errorf("invalid hostPort: %s", v)
		}
	}
	return uint16(start), uint16(end), nil
}

func parseMAC(v string) (network.HardwareAddr, error) {
	if v == "" {
		return nil, nil
	}
	hw, err := net.ParseMAC(v)
	if err != nil {
		return nil, fmt.Errorf("%s is not a valid mac address", v)
	}
	return network.HardwareAddr(hw), nil
}
