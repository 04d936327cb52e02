// Command berth-shim supervises one container: berth's daemon starts it
// with the container's state directory and a status pipe on fd 3.
package main

import (
	"fmt"
	"os"

	"github.com/berth-project/berth/internal/shim"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: berth-shim STATE_DIR (started by the berth daemon)")
		os.Exit(2)
	}
	os.Exit(shim.Main(os.Args[1], os.NewFile(3, "ready")))
}
