//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package archive

import "os"

// tryLock: without flock a temporary file carries no lock, and sweepTemps
// removes what the system lets it (Windows does not remove a file that
// another process holds open).
func tryLock(*os.File) error { return nil }

// renameOpen: Windows does not rename a file that is open, so commit closes
// it first.
const renameOpen = false
