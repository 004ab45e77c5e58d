package notify

import "testing"

// SetHeldPage makes release read n held alerts at a time until t ends.
func SetHeldPage(t testing.TB, n int) {
	old := heldPage
	heldPage = n
	t.Cleanup(func() { heldPage = old })
}
