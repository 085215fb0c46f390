//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package archive

import (
	"os"
	"syscall"
)

// tryLock takes f's advisory lock without waiting: an error means that a
// live run holds it.
func tryLock(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

// renameOpen says that a file can be renamed while it is open: commit closes
// it after the rename, so that its lock holds until then.
const renameOpen = true
