package wire

import (
	"bufio"
	"context"
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

// TestClientMarksPipelinedRequests: a request sent while another is in
// flight carries FlagPipelined; a lone one does not.
func TestClientMarksPipelinedRequests(t *testing.T) {
	flags := make(chan uint8, 2)
	nc, wait := pipeNode(t, func(sc *ServerConn) {
		h1, _, err := sc.Read()
		if err != nil {
			return
		}
		flags <- h1.Flags
		h2, _, err := sc.Read()
		if err != nil {
			return
		}
		flags <- h2.Flags
		_ = sc.Reply(h2, PingReply{})
		_ = sc.Reply(h1, PingReply{})
		_, _, _ = sc.Read() // until the client closes
	})
	defer wait()
	c, err := newConn(context.Background(), nc, DialOptions{})
	require.NoError(t, err)
	defer c.Close()

	errs := make(chan error, 2)
	go func() { errs <- c.Call(context.Background(), OpPing, PingRequest{}, &PingReply{}) }()
	require.Equal(t, uint8(0), <-flags, "the first request is alone")
	go func() { errs <- c.Call(context.Background(), OpPing, PingRequest{}, &PingReply{}) }()
	require.Equal(t, FlagPipelined, <-flags, "the second is sent while the first is in flight")
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
}
