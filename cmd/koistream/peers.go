package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/pipeline/koinet"
)

// maxPeersBody bounds the listing read from the node.
const maxPeersBody = 32 << 20

// peersFlags are the flags of koistream peers.
type peersFlags struct {
	config, addr string
	json         bool
	timeout      time.Duration
}

func newPeersCmd() *cobra.Command {
	var f peersFlags
	cmd := &cobra.Command{
		Use:   "peers",
		Short: "List the KOI-net nodes and edges a running node knows, with edge status and queue depth",
		Long: `List what a running node knows of its KOI-net network: the nodes (type, base_url, the event
types they provide), the edges (source, target, WEBHOOK or POLL, PROPOSED or APPROVED, the RID
types they carry) and the outbound queue of each subscriber (events waiting, age of the oldest).

It asks the node over HTTP (GET /peers on its listener): --addr, else the listen address of
--config's server block, else the default listener. --json prints the node's answer as is.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return peers(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "YAML configuration file, as for serve (its server block gives the address)")
	fl.StringVar(&f.addr, "addr", pipeline.DefaultListen, "the running node's HTTP host:port; overrides the config's")
	fl.BoolVar(&f.json, "json", false, "print the listing as JSON")
	fl.DurationVar(&f.timeout, "timeout", 5*time.Second, "how long to wait for the node")
	return cmd
}

// peers fetches the listing from the node and prints it. An unreachable
// node or a refused request is a runtime failure.
func peers(cmd *cobra.Command, f peersFlags) error {
	var cfg pipeline.Config
	if _, err := applyConfigFile(f.config, &cfg); err != nil {
		return err
	}
	addr := cfg.Listen
	if cmd.Flags().Changed("addr") || addr == "" {
		addr = f.addr
	}
	if f.timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %s", f.timeout)
	}
	url, err := peersURL(addr)
	if err != nil {
		return configError(fmt.Errorf("koistream peers: %w", err))
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	defer cancel()
	body, err := getPeers(ctx, url)
	if err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("koistream peers: %w", err)}
	}
	out := cmd.OutOrStdout()
	if f.json {
		_, err := out.Write(body)
		return err
	}
	var v koinet.PeersView
	if err := json.Unmarshal(body, &v); err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("koistream peers: %s answered something else than a peers listing: %w", url, err)}
	}
	return printPeers(out, v)
}

// peersURL returns the listing's URL on the listener addr; an unspecified
// host (":8002", "0.0.0.0:8002") is asked on loopback.
func peersURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--addr must be host:port, got %q", addr)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + koinet.PeersPath, nil
}

// getPeers GETs the listing and returns its body.
func getPeers(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("is the node running? %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPeersBody))
	if err != nil {
		return nil, fmt.Errorf("read the listing from %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(body))
		var e struct {
			Detail string `json:"detail"`
		}
		if json.Unmarshal(body, &e) == nil && e.Detail != "" {
			msg = e.Detail
		}
		return nil, errors.New(url + " answered " + resp.Status + ": " + msg)
	}
	return body, nil
}

// printPeers writes the listing as three tables.
func printPeers(out io.Writer, v koinet.PeersView) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "self: %s\n\n", v.Self)
	fmt.Fprintln(tw, "NODE\tTYPE\tBASE_URL\tPROVIDES EVENTS")
	for _, n := range v.Nodes {
		rid := n.RID
		if rid == v.Self {
			rid += " (self)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", rid, n.NodeType, orDash(n.BaseURL), orDash(strings.Join(n.Provides.Event, ",")))
	}
	fmt.Fprintln(tw, "\nEDGE\tSOURCE\tTARGET\tTYPE\tSTATUS\tRID TYPES")
	for _, e := range v.Edges {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.RID, e.Source, e.Target, e.EdgeType, e.Status, orDash(strings.Join(e.RIDTypes, ",")))
	}
	fmt.Fprintln(tw, "\nQUEUE (SUBSCRIBER)\tDEPTH\tOLDEST AGE")
	for _, q := range v.Queues {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", q.Subscriber, q.Depth, time.Duration(q.OldestAgeSeconds*float64(time.Second)).Round(time.Millisecond))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
