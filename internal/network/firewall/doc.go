// Package firewall programs berth's nftables ruleset over netlink, with
// github.com/google/nftables; the nft binary is never used at run time.
//
// Everything lives in one inet table (default name "berth"). Its rules are
// fixed when Init runs; networks and published ports only add elements to
// sets and maps, so rule count and per-packet cost do not grow with them,
// and every change is a single atomic transaction.
//
// Sets, all tagged per network with the network ID as element comment:
//
//	bridges      ifname           every berth bridge
//	same_bridge  ifname . ifname  "br . br", to match iif == oif
//	internal     ifname           bridges of internal networks
//	no_icc       ifname           bridges with inter-container traffic off
//	masq4/6      prefix           subnets to masquerade
//	subnets4/6   prefix . ifname  every subnet with its bridge (hairpin)
//
// DNAT maps, consulted only for new connections to a local address (fib
// daddr type local) from prerouting and from output (host-originated):
//
//	dnat4/6           host addr . proto . port -> addr . port  (hash)
//	dnat4/6_any       proto . port -> addr . port              (hash, any local address)
//	dnat4/6_range     host addr range . proto . port range -> addr . port
//	dnat4/6_keepport  host addr range . proto . port range -> addr (port kept)
//
// Forwarding (chain forward): established and related traffic passes;
// same-bridge traffic passes when ICC is on; anything from or to an
// internal bridge is dropped; traffic into a bridge passes only when it was
// DNATed to a published port, so neither a neighbour routing a bridge
// subnet to the host nor another berth network can reach containers;
// traffic out of a bridge passes. Chain guard drops 127.0.0.0/8 and ::1
// arriving from anywhere but lo before DNAT (moby#45610). Chain
// postrouting masquerades masquerading subnets leaving through a non-berth
// interface, hairpin connections, and host connections from 127.0.0.0/8
// DNATed into a bridge. Chain input accepts DNS from a bridge to the
// bridge's own address. No chain has a drop policy.
//
// What the daemon must do besides calling this package:
//   - EnableForwarding, once per host;
//   - SyncPorts at start-up with the mappings of the containers that run,
//     which also drops elements a crash left behind (Init keeps elements);
//   - EnableRouteLocalnet for each bridge with IPv4 ports published on
//     127.0.0.1 or on every address (the guard chain keeps it safe);
//   - with br_netfilter loaded (EnableBridgeNetfilter, needed for
//     Network.ICC == false), turn hairpin mode on for each container's
//     bridge port, or a container cannot reach its own published port
//     through a host address;
//   - AllowInDockerUser for each bridge when Docker Engine runs alongside.
package firewall
