package shaper

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPipeBounded feeds a pipe whose reader never reads: it takes in Buffer
// bytes, the chunk read holds and the chunk write holds, then stops reading.
// net.Pipe has no buffers of its own, unlike a socket, so the bound is exact.
func TestPipeBounded(t *testing.T) {
	t.Parallel()
	const buffer = 8 * chunkSize
	client, srcSide := net.Pipe()
	dstSide, server := net.Pipe() // server never reads
	defer server.Close()
	var count atomic.Int64
	closing := make(chan struct{})
	p := newPipe(srcSide, dstSide, Options{Buffer: buffer}, time.Now(), closing, &count)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.read() }()
	go func() { defer wg.Done(); p.write() }()

	// Write until the pipe stops taking bytes for a while.
	_ = client.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
	var written int
	for {
		n, err := client.Write(make([]byte, chunkSize))
		written += n
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if most := buffer + 2*chunkSize; written > most || written < buffer {
		t.Errorf("the pipe took %d bytes from a sender whose receiver never reads, want %d to %d", written, buffer, most)
	}

	// Closing the receiver ends the pipe: write fails, read stops.
	server.Close()
	client.Close()
	wg.Wait()
	if n := count.Load(); n != 0 {
		t.Errorf("counted %d bytes delivered, want 0", n)
	}
}
