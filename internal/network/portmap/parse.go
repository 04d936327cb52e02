// Package portmap parses docker -p specs and holds published host ports so
// that no other program can take them while a container uses them.
package portmap

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Binding publishes a range of container ports on host ports. Single ports
// have End equal to the start; a zero HostPort means "pick a free one".
type Binding struct {
	Proto       string     // tcp, udp or sctp
	HostIP      netip.Addr // zero means all addresses, IPv4 and IPv6
	HostPort    uint16
	HostPortEnd uint16
	// ContainerPort..ContainerPortEnd always holds at least one port.
	ContainerPort    uint16
	ContainerPortEnd uint16
}

// String formats b as a -p spec that ParseSpec reads back to b.
func (b Binding) String() string {
	var sb strings.Builder
	if b.HostIP.IsValid() {
		if b.HostIP.Is6() {
			sb.WriteString("[" + b.HostIP.String() + "]:")
		} else {
			sb.WriteString(b.HostIP.String() + ":")
		}
	}
	if b.HostPort != 0 {
		sb.WriteString(portRange(b.HostPort, b.HostPortEnd))
	}
	if b.HostIP.IsValid() || b.HostPort != 0 {
		sb.WriteString(":")
	}
	sb.WriteString(portRange(b.ContainerPort, b.ContainerPortEnd))
	sb.WriteString("/" + b.Proto)
	return sb.String()
}

func portRange(start, end uint16) string {
	if end == start || end == 0 {
		return strconv.Itoa(int(start))
	}
	return strconv.Itoa(int(start)) + "-" + strconv.Itoa(int(end))
}

// ParseSpec parses one docker -p value: "80", "8080:80", "127.0.0.1:8080:80",
// "127.0.0.1::80", "[::1]:8080:80", "8000-8010:80-90", "8000-8010:80",
// "80/udp", "53:53/udp" and so on. Ranges stay ranges: the result always
// holds exactly one Binding. A host range with a single container port
// means "any one free host port of that range", as in Docker.
func ParseSpec(spec string) ([]Binding, error) {
	rawIP, rawHost, rawContainer := splitSpec(spec)
	rawContainer, proto, err := splitProto(rawContainer)
	if err != nil {
		return nil, err
	}
	if rawContainer == "" {
		return nil, fmt.Errorf("no port specified: %s<empty>", spec)
	}
	b := Binding{Proto: proto}
	if rawIP != "" {
		if b.HostIP, err = parseHostIP(rawIP); err != nil {
			return nil, err
		}
	}
	cStart, cEnd, err := parsePortRange(rawContainer, false)
	if err != nil {
		return nil, fmt.Errorf("invalid containerPort: %s", rawContainer)
	}
	b.ContainerPort, b.ContainerPortEnd = cStart, cEnd
	hStart, hEnd, err := parsePortRange(rawHost, true)
	if err != nil {
		return nil, fmt.Errorf("invalid hostPort: %s", rawHost)
	}
	b.HostPort, b.HostPortEnd = hStart, hEnd
	if hStart != 0 && hEnd-hStart != cEnd-cStart && cEnd != cStart {
		return nil, fmt.Errorf("invalid ranges specified for container and host Ports: %s and %s", rawContainer, rawHost)
	}
	return []Binding{b}, nil
}

// splitSpec splits on the last two colons, so an unbracketed IPv6 address
// keeps its own colons, as in Docker.
func splitSpec(spec string) (ip, host, container string) {
	parts := strings.Split(spec, ":")
	n := len(parts)
	switch n {
	case 1:
		return "", "", parts[0]
	case 2:
		return "", parts[0], parts[1]
	default:
		return strings.Join(parts[:n-2], ":"), parts[n-2], parts[n-1]
	}
}

func splitProto(s string) (port, proto string, err error) {
	port, proto, found := strings.Cut(s, "/")
	if !found || proto == "" {
		return port, "tcp", nil
	}
	switch p := strings.ToLower(proto); p {
	case "tcp", "udp", "sctp":
		return port, p, nil
	}
	return "", "", fmt.Errorf("invalid proto: %s", proto)
}

func parseHostIP(raw string) (netip.Addr, error) {
	s := raw
	if strings.HasPrefix(s, "[") {
		if !strings.HasSuffix(s, "]") {
			return netip.Addr{}, fmt.Errorf("invalid IP address: %s", raw)
		}
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("invalid IP address: %s", raw)
	}
	return a, nil
}

// parsePortRange parses "p" or "p-q". An empty string or "0" is allowed
// only for host ports and means any port (0, 0).
func parsePortRange(s string, host bool) (start, end uint16, err error) {
	if host && (s == "" || s == "0") {
		return 0, 0, nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	start, err = parsePort(lo)
	if err != nil {
		return 0, 0, err
	}
	end = start
	if isRange {
		if end, err = parsePort(hi); err != nil {
			return 0, 0, err
		}
	}
	if end < start {
		return 0, 0, fmt.Errorf("invalid range %s", s)
	}
	return start, end, nil
}

func parsePort(s string) (uint16, error) {
	// ParseUint alone would accept "+80"; Docker does not.
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	return uint16(n), nil
}
