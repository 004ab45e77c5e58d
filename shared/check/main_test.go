package check_test

import (
	"testing"

	"github.com/backupwatch/backupwatch/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
