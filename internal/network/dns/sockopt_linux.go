package dns

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// setFreebind allows binding an address that is not (yet) configured on any
// interface.
func setFreebind(fd int, network string) error {
	if strings.HasSuffix(network, "6") {
		if err := unix.SetsockoptInt(fd, unix.SOL_IPV6, unix.IPV6_FREEBIND, 1); err == nil {
			return nil
		}
		// Kernels before 4.15 lack IPV6_FREEBIND but honour IP_FREEBIND on
		// IPv6 sockets too.
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_IP, unix.IP_FREEBIND, 1); err != nil {
		return fmt.Errorf("set IP_FREEBIND: %w", err)
	}
	return nil
}
