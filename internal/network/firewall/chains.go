package firewall

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Chains of berth's table, in the order they are created (and listed).
const (
	chainGuard       = "guard"       // filter prerouting, raw: loopback spoofing
	chainForward     = "forward"     // filter forward: isolation
	chainInput       = "input"       // filter input: embedded DNS
	chainPrerouting  = "prerouting"  // nat prerouting: published ports
	chainOutput      = "output"      // nat output: published ports, host-originated
	chainPorts       = "ports"       // DNAT map lookups shared by the two above
	chainPostrouting = "postrouting" // nat postrouting: masquerade, hairpin
)

type chainSpec struct {
	name string
	typ  nftables.ChainType
	hook *nftables.ChainHook
	prio *nftables.ChainPriority
}

func chainSpecs() []chainSpec {
	return []chainSpec{
		{chainGuard, nftables.ChainTypeFilter, nftables.ChainHookPrerouting, nftables.ChainPriorityRaw},
		{chainForward, nftables.ChainTypeFilter, nftables.ChainHookForward, nftables.ChainPriorityFilter},
		{chainInput, nftables.ChainTypeFilter, nftables.ChainHookInput, nftables.ChainPriorityFilter},
		{chainPrerouting, nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest},
		{chainOutput, nftables.ChainTypeNAT, nftables.ChainHookOutput, nftables.ChainPriorityNATDest},
		{name: chainPorts},
		{chainPostrouting, nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource},
	}
}

// queueChains adds every chain and empties it, so that the rules queued
// next replace whatever an earlier Init left there.
func (f *Firewall) queueChains(c *nftables.Conn) {
	accept := nftables.ChainPolicyAccept
	for _, sp := range chainSpecs() {
		ch := &nftables.Chain{Name: sp.name, Table: f.table}
		if sp.hook != nil {
			// Never a drop policy: berth only judges its own traffic and
			// must not break the host's other traffic.
			ch.Type, ch.Hooknum, ch.Priority, ch.Policy = sp.typ, sp.hook, sp.prio, &accept
		}
		c.AddChain(ch)
		c.FlushChain(ch)
	}
}

// ruleAdder appends a rule to a chain of berth's table.
type ruleAdder func(chain string, exprs []expr.Any)

// queueRules adds the static rules. Their number is fixed: networks and
// ports only ever add set and map elements.
func (f *Firewall) queueRules(c *nftables.Conn, sets map[string]*nftables.Set) error {
	add := func(chain string, exprs []expr.Any) {
		c.AddRule(&nftables.Rule{
			Table: f.table,
			Chain: &nftables.Chain{Name: chain, Table: f.table},
			Exprs: exprs,
		})
	}
	guardRules(add)
	forwardRules(add, sets)
	if err := f.inputRules(c, add, sets); err != nil {
		return err
	}
	for _, ch := range []string{chainPrerouting, chainOutput} {
		add(ch, rule(fibDaddrLocal(false), one(jump(chainPorts))))
	}
	if err := f.portRules(c, add, sets); err != nil {
		return err
	}
	postroutingRules(add, sets)
	return nil
}

// guardRules drop loopback-addressed packets that arrive from the wire
// before any DNAT can rewrite them (moby#45610): otherwise a neighbour
// routing 127.0.0.0/8 via this host could reach ports published on
// 127.0.0.1, and route_localnet on a bridge would let containers reach
// services bound to the host's loopback.
func guardRules(add ruleAdder) {
	loop4 := []byte{127}
	loop6 := []byte{15: 1}
	add(chainGuard, rule(notLoopbackIn(), nfproto(unix.NFPROTO_IPV4), one(ipField(16, 1, reg1), cmpEq(reg1, loop4), verdict(expr.VerdictDrop))))
	add(chainGuard, rule(notLoopbackIn(), nfproto(unix.NFPROTO_IPV4), one(ipField(12, 1, reg1), cmpEq(reg1, loop4), verdict(expr.VerdictDrop))))
	add(chainGuard, rule(notLoopbackIn(), nfproto(unix.NFPROTO_IPV6), one(ipField(24, 16, reg1), cmpEq(reg1, loop6), verdict(expr.VerdictDrop))))
	add(chainGuard, rule(notLoopbackIn(), nfproto(unix.NFPROTO_IPV6), one(ipField(8, 16, reg1), cmpEq(reg1, loop6), verdict(expr.VerdictDrop))))
}

// forwardRules implement isolation with a constant number of rules:
//
//	established/related        accept
//	same bridge, ICC on        accept
//	from or to internal bridge drop
//	to a bridge, DNATed        accept (published ports)
//	to a bridge, anything else drop   (unrouted access, other networks)
//	from a bridge              accept (to the outside)
func forwardRules(add ruleAdder, s map[string]*nftables.Set) {
	iif := meta(expr.MetaKeyIIFNAME, reg1)
	oif := meta(expr.MetaKeyOIFNAME, reg1)
	accept, drop := verdict(expr.VerdictAccept), verdict(expr.VerdictDrop)

	add(chainForward, rule(ctAny(expr.CtKeySTATE, expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED), one(accept)))
	add(chainForward, one(iif, meta(expr.MetaKeyOIFNAME, reg2), lookup(reg1, s[setSameBridge], false),
		iif, lookup(reg1, s[setNoICC], true), accept))
	add(chainForward, one(iif, lookup(reg1, s[setInternal], false), drop))
	add(chainForward, one(oif, lookup(reg1, s[setInternal], false), drop))
	add(chainForward, rule(one(oif, lookup(reg1, s[setBridges], false)), ctAny(expr.CtKeySTATUS, ctDNAT), one(accept)))
	add(chainForward, one(oif, lookup(reg1, s[setBridges], false), drop))
	add(chainForward, one(iif, lookup(reg1, s[setBridges], false), accept))
}

// inputRules accept DNS queries from a bridge to the bridge's own address,
// where the embedded resolver listens, internal networks included.
func (f *Firewall) inputRules(c *nftables.Conn, add ruleAdder, s map[string]*nftables.Set) error {
	protos, err := anonSet(c, f.table, nftables.TypeInetProto, []byte{unix.IPPROTO_TCP}, []byte{unix.IPPROTO_UDP})
	if err != nil {
		return fmt.Errorf("input rules: %w", err)
	}
	add(chainInput, rule(
		one(meta(expr.MetaKeyIIFNAME, reg1), lookup(reg1, s[setBridges], false),
			meta(expr.MetaKeyL4PROTO, reg1), lookup(reg1, protos, false),
			thDport(reg1), cmpEq(reg1, []byte{0, 53})),
		fibDaddrLocal(true),
		one(verdict(expr.VerdictAccept)),
	))
	return nil
}

// postroutingRules masquerade:
//   - traffic from a masquerading network's subnet leaving through a
//     non-berth interface (traffic between bridges is dropped or DNATed);
//   - hairpin: a container reaching a published port on its own bridge
//     through a host address, so the reply comes back through the host.
//     The match is on source subnet and output bridge, since with
//     br_netfilter such packets are bridged and have no input interface
//     here;
//   - host-originated traffic from 127.0.0.0/8 DNATed into a bridge.
func postroutingRules(add ruleAdder, s map[string]*nftables.Set) {
	masq := &expr.Masq{}
	notToBridge := one(meta(expr.MetaKeyOIFNAME, reg1), lookup(reg1, s[setBridges], true))
	add(chainPostrouting, rule(nfproto(unix.NFPROTO_IPV4), one(ipField(12, 4, reg1), lookup(reg1, s[setMasq4], false)), notToBridge, one(masq)))
	add(chainPostrouting, rule(nfproto(unix.NFPROTO_IPV6), one(ipField(8, 16, reg1), lookup(reg1, s[setMasq6], false)), notToBridge, one(masq)))
	dnat := ctAny(expr.CtKeySTATUS, ctDNAT)
	add(chainPostrouting, rule(dnat, nfproto(unix.NFPROTO_IPV4), one(
		ipField(12, 4, reg1), meta(expr.MetaKeyOIFNAME, reg1w1), lookup(reg1, s[setSubnets4], false), masq)))
	add(chainPostrouting, rule(dnat, nfproto(unix.NFPROTO_IPV6), one(
		ipField(8, 16, reg1), meta(expr.MetaKeyOIFNAME, reg2), lookup(reg1, s[setSubnets6], false), masq)))
	add(chainPostrouting, rule(one(meta(expr.MetaKeyOIFNAME, reg1), lookup(reg1, s[setBridges], false)),
		nfproto(unix.NFPROTO_IPV4), one(ipField(12, 1, reg1), cmpEq(reg1, []byte{127}), masq)))
}
