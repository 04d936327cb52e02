package firewall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Options configures a Firewall.
type Options struct {
	// Table is the nftables table name (family inet), e.g. "berth".
	Table string
	// NetNS is an optional fd of the network namespace to program; 0 means
	// the namespace of the calling process.
	NetNS int
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// Firewall programs berth's nftables table. All methods are safe for
// concurrent use; every change is a single netlink transaction.
type Firewall struct {
	table *nftables.Table
	netns int
	log   *slog.Logger

	// mu serialises changes: AddNetwork and DelNetwork read the kernel state
	// before writing it, and DOCKER-USER edits are check-then-insert.
	mu sync.Mutex
	// netElems caches the network sets' elements (by set name) as the last
	// transaction left them, so a network change reads the kernel once, not
	// on every change: the cost of a create must not grow with the number of
	// networks. Init, Remove and any failed transaction drop it.
	netElems map[string][]elem
}

// New validates opts and returns a Firewall. It does not touch the kernel.
func New(opts Options) (*Firewall, error) {
	if opts.Table == "" {
		return nil, errors.New("firewall: table name is required")
	}
	if !validTableName(opts.Table) {
		return nil, fmt.Errorf("firewall: invalid table name %q (want 1-64 of A-Z a-z 0-9 _ -)", opts.Table)
	}
	if opts.NetNS < 0 {
		return nil, fmt.Errorf("firewall: invalid netns fd %d", opts.NetNS)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Firewall{
		table: &nftables.Table{Name: opts.Table, Family: nftables.TableFamilyINet},
		netns: opts.NetNS,
		log:   log.With("table", opts.Table),
	}, nil
}

// conn returns a fresh connection: each operation builds its own batch, so
// a failed batch can never leak messages into the next one.
func (f *Firewall) conn() (*nftables.Conn, error) {
	opts := []nftables.ConnOption{nftables.WithSockOptions(bigSendBuffer)}
	if f.netns != 0 {
		opts = append(opts, nftables.WithNetNSFd(f.netns))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("open nftables netlink connection: %w", err)
	}
	return c, nil
}

// commit sends the batch queued on c as one transaction.
func (f *Firewall) commit(ctx context.Context, c *nftables.Conn, what string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// tableExists reports whether berth's table is present.
func (f *Firewall) tableExists(c *nftables.Conn) (bool, error) {
	_, err := c.ListTableOfFamily(f.table.Name, f.table.Family)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up table inet %s: %w", f.table.Name, err)
	}
	return true, nil
}

// validTableName keeps names usable unquoted in nft listings and in the
// iptables comments that tag berth's DOCKER-USER rules.
func validTableName(name string) bool {
	if len(name) > 64 {
		return false
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-'
		if !ok {
			return false
		}
	}
	return true
}

// sendBufferBytes bounds a transaction: the whole batch goes out in one
// sendmsg, and the default socket buffer (~200 KiB) holds only about 2000
// port mappings. nft raises its buffer the same way.
const sendBufferBytes = 32 << 20

func bigSendBuffer(c *netlink.Conn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sendBufferBytes)
	}); err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	if serr != nil {
		// Without CAP_NET_ADMIN over the namespace's owner the forced size
		// is refused; the capped one still helps, and small batches fit anyway.
		_ = c.SetWriteBuffer(sendBufferBytes)
	}
	return nil
}
