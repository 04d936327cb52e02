// Package usernet tests user-defined networks end to end through the docker
// CLI: create/rm/ls/inspect/connect/disconnect/prune with Docker's options,
// name resolution by the embedded resolver, isolation, and the error
// messages a user sees.
package usernet

import (
	"os"
	"testing"

	"github.com/berth-project/berth/test/e2e/harness"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
