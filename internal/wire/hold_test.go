package wire

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRepliesHeldWhileRequestsRun: replies written while another request of
// the connection is running go out together when the last one ends; a
// request running alone gets its reply at once.
func TestRepliesHeldWhileRequestsRun(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	sc := NewServerConn(server, time.Second)
	frames := make(chan Header, 8)
	go func() {
		br := bufio.NewReader(client)
		for {
			h, _, err := ReadFrame(br)
			if err != nil {
				close(frames)
				return
			}
			frames <- h
		}
	}()
	none := func() {
		t.Helper()
		select {
		case h := <-frames:
			t.Fatalf("reply %d sent while held", h.ID)
		case <-time.After(50 * time.Millisecond):
		}
	}
	got := func(id uint64) {
		t.Helper()
		select {
		case h := <-frames:
			require.Equal(t, id, h.ID)
		case <-time.After(2 * time.Second):
			t.Fatalf("reply %d never sent", id)
		}
	}

	// Alone: at once.
	sc.Begin()
	require.NoError(t, sc.Reply(Header{Op: OpPing, ID: 1}, PingReply{}))
	sc.End()
	got(1)

	// Two running: the first reply waits for the second to end.
	sc.Begin()
	sc.Begin()
	require.NoError(t, sc.Reply(Header{Op: OpPing, ID: 2}, PingReply{}))
	sc.End()
	none()
	require.NoError(t, sc.ReplyError(Header{Op: OpPing, ID: 3}, CodeBusy, "busy"))
	none()
	require.NoError(t, sc.Reply(Header{Op: OpPing, ID: 4}, PingReply{}))
	sc.End()
	got(2)
	got(3)
	got(4)

	// Held replies never exceed maxHeldBytes: a long run flushes by size.
	sc.Begin()
	sc.Begin()
	big := make([]byte, maxHeldBytes)
	require.NoError(t, sc.Reply(Header{Op: OpSign, ID: 5}, DataReply{Data: big}))
	got(5)
	sc.End()
	sc.End()
}
