// Command netkit is a small static network test tool that goes into test
// images at /usr/local/bin/netkit: echo, dial, throughput, request/response
// latency, DNS latency and a minimal HTTP server. It uses only the standard
// library and miekg/dns so that it builds with CGO_ENABLED=0 and runs in a
// busybox image.
//
//	netkit echo -l :6379 [-udp] [-banner]
//	netkit dial [-t 2s] [-udp] [-send text] [-lines n] host:port
//	netkit tput-server -l :5001
//	netkit tput-client [-d 3s] host:5001
//	netkit rr-server -l :5002
//	netkit rr-client [-n 10000] host:5002
//	netkit dnsbench [-n 10000] [-server ip:53] [-name redis]
//	netkit http -l :80 [-body text]
//	netkit dns-server -l :53 -a name=ip [-a name=ip ...]
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

var commands = map[string]func(args []string, stdout, stderr io.Writer) int{
	"echo":        runEcho,
	"dial":        runDial,
	"tput-server": runTputServer,
	"tput-client": runTputClient,
	"rr-server":   runRRServer,
	"rr-client":   runRRClient,
	"dnsbench":    runDNSBench,
	"http":        runHTTP,
	"dns-server":  runDNSServer,
}

// usages are kept apart from commands, which the subcommands' own usage
// messages would otherwise make an initialisation cycle.
var usages = map[string]string{
	"echo":        "echo -l :6379 [-udp] [-banner]",
	"dial":        "dial [-t 2s] [-udp] [-send text] [-lines n] host:port",
	"tput-server": "tput-server -l :5001",
	"tput-client": "tput-client [-d 3s] host:5001",
	"rr-server":   "rr-server -l :5002",
	"rr-client":   "rr-client [-n 10000] host:5002",
	"dnsbench":    "dnsbench [-n 10000] [-server ip:53] [-name redis]",
	"http":        "http -l :80 [-body text]",
	"dns-server":  "dns-server -l :53 -a name=ip [-a name=ip ...]",
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	cmd, ok := commands[args[0]]
	if !ok {
		if args[0] != "-h" && args[0] != "help" && args[0] != "--help" {
			fmt.Fprintf(stderr, "netkit: unknown command %q\n", args[0])
		}
		usage(stderr)
		return 2
	}
	return cmd(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	names := make([]string, 0, len(usages))
	for n := range usages {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage:")
	for _, n := range names {
		fmt.Fprintln(w, "  netkit", usages[n])
	}
}

// newFlags makes a flag set that reports errors instead of exiting, so
// that subcommands can be tested in-process.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("netkit "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseArgs parses flags that may come before or after the positional
// arguments ("dial host:port -t 1s" as well as "dial -t 1s host:port"),
// since test scripts are written both ways.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// unescape turns \n, \r, \t and \\ in a command-line argument into the
// characters they name, so that -send can carry protocol line endings.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	r := strings.NewReplacer(`\\`, `\`, `\n`, "\n", `\r`, "\r", `\t`, "\t", `\0`, "\x00")
	return r.Replace(s)
}
