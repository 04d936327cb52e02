// Command berth is the berth engine (`berth daemon`) and its client, whose
// verbs and flags are the docker CLI's.
package main

import (
	"os"

	"github.com/berth-project/berth/internal/cli"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "0.1.0-dev"

func main() {
	root := cli.NewRootCommand(os.Stdin, os.Stdout, os.Stderr)
	root.AddCommand(daemonCommand())
	os.Exit(cli.Execute(root))
}
