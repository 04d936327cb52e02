package firewall

import (
	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Registers as nft itself allocates them: 16-byte registers 1 and 2, and
// the 4-byte registers that alias register 1 (9, 10) and 2 (13) when a
// concatenation is built field by field.
const (
	reg1   = 1
	reg2   = 2
	reg1w1 = 9  // bytes 4-7 of register 1
	reg1w2 = 10 // bytes 8-11 of register 1
	reg2w1 = 13 // bytes 4-7 of register 2 (ipv6 address occupies register 1)
)

// Values compared against kernel-provided words, in host byte order.
const (
	loIfindex = 1 // the loopback device is always ifindex 1 in a namespace
	rtnLocal  = unix.RTN_LOCAL
	ctDNAT    = 1 << 5 // IPS_DST_NAT
)

func ne32(v uint32) []byte { return binaryutil.NativeEndian.PutUint32(v) }

func meta(key expr.MetaKey, reg uint32) expr.Any {
	return &expr.Meta{Key: key, Register: reg}
}

func cmpEq(reg uint32, data []byte) expr.Any {
	return &expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: data}
}

func cmpNeq(reg uint32, data []byte) expr.Any {
	return &expr.Cmp{Op: expr.CmpOpNeq, Register: reg, Data: data}
}

func lookup(reg uint32, s *nftables.Set, invert bool) expr.Any {
	return &expr.Lookup{SourceRegister: reg, SetName: s.Name, SetID: s.ID, Invert: invert}
}

func verdict(k expr.VerdictKind) expr.Any { return &expr.Verdict{Kind: k} }

func jump(chain string) expr.Any { return &expr.Verdict{Kind: expr.VerdictJump, Chain: chain} }

// ctAny matches when any of the bits in mask is set in the given ct key
// (ct state / ct status).
func ctAny(key expr.CtKey, mask uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: key, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: ne32(mask), Xor: ne32(0)},
		cmpNeq(reg1, ne32(0)),
	}
}

// nfproto restricts a rule of the inet table to one address family.
func nfproto(family byte) []expr.Any {
	return []expr.Any{meta(expr.MetaKeyNFPROTO, reg1), cmpEq(reg1, []byte{family})}
}

// notLoopbackIn matches packets that did not arrive on lo.
func notLoopbackIn() []expr.Any {
	return []expr.Any{meta(expr.MetaKeyIIF, reg1), cmpNeq(reg1, ne32(loIfindex))}
}

// ipField loads len bytes of the network header at off into reg.
func ipField(off, length, reg uint32) expr.Any {
	return &expr.Payload{
		OperationType: expr.PayloadLoad, DestRegister: reg,
		Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: length,
	}
}

// thDport loads the transport destination port (tcp, udp, sctp, dccp all
// keep it at offset 2) into reg.
func thDport(reg uint32) expr.Any {
	return &expr.Payload{
		OperationType: expr.PayloadLoad, DestRegister: reg,
		Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2,
	}
}

// fibDaddrLocal matches when the destination address is local to the host
// (fib daddr type local); withIIF restricts it to the input interface.
func fibDaddrLocal(withIIF bool) []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: reg1, FlagDADDR: true, FlagIIF: withIIF, ResultADDRTYPE: true},
		cmpEq(reg1, ne32(rtnLocal)),
	}
}

// ifname encodes an interface name as the kernel stores it: IFNAMSIZ bytes,
// NUL padded.
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

// rule concatenates expression groups.
func rule(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func one(e ...expr.Any) []expr.Any { return e }
