//go:build !linux

package dns

// setFreebind is a no-op where the option does not exist; the address must
// then be configured before AddNetwork.
func setFreebind(int, string) error { return nil }
