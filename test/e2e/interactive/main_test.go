// Package interactive tests what a user does at a terminal: `docker run
// -it`, `docker exec -it`, attach and detach, logs -f, and containers that
// outlive their daemon. Interactive sessions run the real docker CLI on a
// real pty.
package interactive

import (
	"os"
	"testing"

	"github.com/berth-project/berth/test/e2e/harness"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
