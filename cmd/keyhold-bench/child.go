package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// child is a process this program started (a node or a worker) that talks
// in lines over its standard input and output, and stops when its input
// closes.
type child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	done  chan struct{}
}

// startChild starts this program again with args and extra environment.
func startChild(name string, env []string, args ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, stdin: stdin, lines: make(chan string), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		s := bufio.NewScanner(stdout)
		s.Buffer(make([]byte, 64<<10), 1<<20)
		for s.Scan() {
			c.lines <- s.Text()
		}
	}()
	return c, nil
}

// errChildExited reports a child that ended before answering.
var errChildExited = errors.New("exited")

// readLine waits up to timeout for the child's next line.
func (c *child) readLine(timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case line := <-c.lines:
		return line, nil
	case <-c.done:
		return "", fmt.Errorf("%s %w", c.name, errChildExited)
	case <-t.C:
		return "", fmt.Errorf("%s did not answer within %v", c.name, timeout)
	}
}

// send writes one line to the child.
func (c *child) send(line []byte) error {
	_, err := c.stdin.Write(append(line, '\n'))
	return err
}

// stop closes the child's input, which asks it to exit, and kills it if it
// has not within ten seconds.
func (c *child) stop() {
	c.stdin.Close()
	exited := make(chan struct{})
	go func() {
		// Drain the output so that the reader goroutine ends.
		for {
			select {
			case <-c.lines:
			case <-c.done:
				_ = c.cmd.Wait()
				close(exited)
				return
			}
		}
	}()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-exited
	}
}
