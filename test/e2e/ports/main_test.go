package ports

import (
	"os"
	"testing"

	"github.com/berth-project/berth/test/e2e/harness"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
