//go:build unix

package block

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLoadFIFO: Load on a named pipe is an error at once; opening the pipe
// would wait for a writer, maybe forever.
func TestLoadFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.safetensors")
	require.NoError(t, syscall.Mkfifo(path, 0o600))
	done := make(chan error, 1)
	go func() {
		_, err := Load(path, NetSpec{Arch: "resnet20"})
		done <- err
	}()
	select {
	case err := <-done:
		require.ErrorContains(t, err, "not a regular file")
		require.ErrorContains(t, err, path)
	case <-time.After(10 * time.Second):
		// A writer's open releases the reader, so the test can end.
		if w, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		<-done
		t.Fatal("Load on a FIFO blocked")
	}
}
