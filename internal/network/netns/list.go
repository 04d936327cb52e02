//go:build linux

package netns

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
)

// dumpAttempts bounds retries of a netlink dump. The kernel interrupts a
// dump when the table changes under it, which is common while containers
// start in parallel; a few retries are enough in practice.
const dumpAttempts = 8

// retryDump calls dump until it completes without netlink.ErrDumpInterrupted,
// because an interrupted dump may have skipped or duplicated entries.
func retryDump[T any](what string, dump func() ([]T, error)) ([]T, error) {
	var err error
	for range dumpAttempts {
		var out []T
		out, err = dump()
		if err == nil {
			return out, nil
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	return nil, fmt.Errorf("%s: still inconsistent after %d attempts: %w", what, dumpAttempts, err)
}

// LinkList lists all links visible through h.
func LinkList(h *netlink.Handle) ([]netlink.Link, error) {
	return retryDump("list links", h.LinkList)
}

// AddrList lists addresses of link (nil = all links) in family
// (netlink.FAMILY_V4, FAMILY_V6 or FAMILY_ALL).
func AddrList(h *netlink.Handle, link netlink.Link, family int) ([]netlink.Addr, error) {
	return retryDump("list addresses", func() ([]netlink.Addr, error) {
		return h.AddrList(link, family)
	})
}

// RouteList lists the main-table routes of family visible through h.
func RouteList(h *netlink.Handle, family int) ([]netlink.Route, error) {
	return retryDump("list routes", func() ([]netlink.Route, error) {
		return h.RouteList(nil, family)
	})
}
