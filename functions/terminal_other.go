//go:build !linux

package main

import "os"

// isTerminal reports whether f is a character device other than a null
// device; ctsync's deployments run on Linux, where terminal_linux.go asks
// the terminal itself.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && f.Name() != os.DevNull
}
