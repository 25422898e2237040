package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/keyhold/keyhold/hsm"
)

// partitionInfo is one line of "keyhold partitions". The JSON field names
// are part of the interface.
type partitionInfo struct {
	Name      string     `json:"name"`
	ID        uint32     `json:"id"`
	Nodes     []nodeInfo `json:"nodes"`
	Available bool       `json:"available"`        // a node answered
	Objects   uint32     `json:"objects"`          // objects visible without login
	Serial    string     `json:"serial,omitempty"` // the token's serial number
	Error     string     `json:"error,omitempty"`  // why it is not available
}

// nodeInfo is a node of a partition in the JSON of "keyhold partitions".
type nodeInfo struct {
	Address  string `json:"address"`
	Priority int    `json:"priority"`
}

// partitionProbeTimeout bounds the question asked of each partition, so that
// one unreachable cluster does not hold up the list.
const partitionProbeTimeout = 5 * time.Second

// runPartitions implements "keyhold partitions": the configured partitions,
// their nodes, and whether one of their nodes answers. It needs no PIN.
func runPartitions(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("partitions", "partitions [--json] [--config FILE]", false, stdout, stderr)
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.fail(usagef("unexpected arguments %q", pos))
	}
	cfg, err := hsm.LoadConfig(c.configPath())
	if err != nil {
		return c.fail(err)
	}
	client, err := hsm.Open(ctx, cfg)
	if err != nil {
		return c.fail(err)
	}
	defer client.Close()
	var out []partitionInfo
	for _, pc := range cfg.Partitions {
		pi := partitionInfo{Name: pc.Name, ID: pc.ID}
		for _, n := range pc.Nodes {
			pi.Nodes = append(pi.Nodes, nodeInfo{Address: n.Address, Priority: n.Priority})
		}
		p, err := client.Partition(pc.Name)
		if err == nil {
			pctx, cancel := context.WithTimeout(ctx, partitionProbeTimeout)
			var info hsm.PartitionInfo
			info, err = p.Info(pctx)
			cancel()
			pi.Objects, pi.Serial = info.Objects, info.Serial
		}
		if err != nil {
			pi.Error = err.Error()
		} else {
			pi.Available = true
		}
		out = append(out, pi)
	}
	if c.json {
		if err := writeJSON(stdout, out); err != nil {
			return c.fail(err)
		}
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tID\tSTATUS\tNODES")
		for _, pi := range out {
			status := "available"
			if !pi.Available {
				status = "unavailable"
			}
			nodes := ""
			for i, n := range pi.Nodes {
				if i > 0 {
					nodes += ","
				}
				nodes += fmt.Sprintf("%s(p%d)", n.Address, n.Priority)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", pi.Name, pi.ID, status, nodes)
		}
		tw.Flush()
		for _, pi := range out {
			if pi.Error != "" {
				fmt.Fprintf(stderr, "keyhold partitions: %s: %s\n", pi.Name, pi.Error)
			}
		}
	}
	// The list is printed either way; the exit code tells a script whether
	// every partition answered.
	for _, pi := range out {
		if !pi.Available {
			return exitUnavailable
		}
	}
	return exitOK
}
