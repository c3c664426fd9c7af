//go:build unix

package safetensors

import "syscall"

// openNonblock keeps open(2) from waiting for a writer should the path turn
// into a FIFO between the check and the open.
const openNonblock = syscall.O_NONBLOCK
