// Command mkbusybox writes a busybox rootfs tarball to stdout, made from
// Debian's static busybox, for `docker import - busybox:latest` on a host
// without a registry. -add dst=src adds more files (e.g. static test tools).
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/berth-project/berth/internal/image/busyboxtar"
)

type adds map[string][]byte

func (a adds) String() string { return "" }
func (a adds) Set(v string) error {
	dst, src, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("want dst=src, got %q", v)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	a[dst] = data
	return nil
}

func main() {
	busybox := flag.String("busybox", "/bin/busybox", "static busybox binary")
	extra := adds{}
	flag.Var(extra, "add", "add a file: /path/in/image=/path/on/host (repeatable)")
	flag.Parse()
	if err := busyboxtar.Write(os.Stdout, *busybox, extra); err != nil {
		fmt.Fprintln(os.Stderr, "mkbusybox:", err)
		os.Exit(1)
	}
}
