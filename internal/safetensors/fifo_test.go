//go:build unix

package safetensors

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestReadFileFIFO: a named pipe is refused as not a regular file at
// once, not opened: opening it would wait for a writer.
func TestReadFileFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pipe.safetensors")
	require.NoError(t, syscall.Mkfifo(path, 0o600))
	done := make(chan error, 1)
	go func() {
		_, err := ReadFile(path)
		done <- err
	}()
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrFormat)
		require.ErrorContains(t, err, "not a regular file")
	case <-time.After(10 * time.Second):
		// Unblock the reader (a writer's open releases it) so the test
		// binary can finish, then fail.
		if w, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		<-done
		t.Fatal("ReadFile on a FIFO blocked instead of refusing it")
	}
}
