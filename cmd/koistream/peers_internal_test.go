package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/koistream/koistream/pipeline/koinet"
)

const (
	peersSelf = "orn:koi-net.node:me+659d582044995e62cf3f5fd977b8c91fa2d9a4183375626f452028f9cfb37aa2"
	peersSub  = "orn:koi-net.node:sub+d10a33dc15d219b5d82b7f242212d414e00eba9bd2e968ae2b615ade8e153f12"
)

// peersNode serves a peers listing as a node's listener does, and answers
// other paths 404.
func peersNode(t *testing.T, status int) (*httptest.Server, []byte) {
	t.Helper()
	v := koinet.PeersView{
		Self: peersSelf,
		Nodes: []koinet.PeerNode{
			{RID: peersSelf, NodeType: "FULL", BaseURL: "http://127.0.0.1:8002/koi-net", Provides: koinet.PeerProvides{Event: []string{"orn:github.event"}, State: []string{}}},
			{RID: peersSub, NodeType: "PARTIAL", Provides: koinet.PeerProvides{Event: []string{}, State: []string{}}},
		},
		Edges:  []koinet.PeerEdge{{RID: "orn:koi-net.edge:abc", Source: peersSelf, Target: peersSub, EdgeType: "POLL", Status: "PROPOSED", RIDTypes: []string{"orn:github.event"}}},
		Queues: []koinet.QueueStat{{Subscriber: peersSub, Depth: 42, OldestAgeSeconds: 2.5}},
	}
	body, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	body = append(body, '\n')
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+koinet.PeersPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if status != http.StatusOK {
			_, _ = w.Write([]byte(`{"error":"internal","detail":"reading the graph failed"}`))
			return
		}
		_, _ = w.Write(body)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, body
}

func TestPeersCommand(t *testing.T) {
	srv, body := peersNode(t, http.StatusOK)
	addr := strings.TrimPrefix(srv.URL, "http://")
	failing, _ := peersNode(t, http.StatusInternalServerError)
	// A port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	config := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(config, []byte("server: {host: 0.0.0.0, port: "+port+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string // regular expressions matched against stdout
		wantErr  string   // substring of stderr
		wantBody bool     // stdout is the node's answer as is
	}{
		{"table", []string{"--addr", addr}, exitOK, []string{
			`(?m)^self: ` + regexp.QuoteMeta(peersSelf) + `$`,
			`(?m)^` + regexp.QuoteMeta(peersSelf) + ` \(self\) +FULL +http://127\.0\.0\.1:8002/koi-net +orn:github\.event$`,
			`(?m)^` + regexp.QuoteMeta(peersSub) + ` +PARTIAL +- +-$`,
			`(?m)^orn:koi-net\.edge:abc +` + regexp.QuoteMeta(peersSelf) + ` +` + regexp.QuoteMeta(peersSub) + ` +POLL +PROPOSED +orn:github\.event$`,
			`(?m)^` + regexp.QuoteMeta(peersSub) + ` +42 +2\.5s$`,
		}, "", false},
		{"json", []string{"--addr", addr, "--json"}, exitOK, nil, "", true},
		{"address from the config, unspecified host asked on loopback", []string{"--config", config, "--json"}, exitOK, nil, "", true},
		{"node down", []string{"--addr", down}, exitFailure, nil, "is the node running?", false},
		{"node fails", []string{"--addr", strings.TrimPrefix(failing.URL, "http://")}, exitFailure, nil, "500 Internal Server Error: reading the graph failed", false},
		{"bad address", []string{"--addr", "nowhere"}, exitUsage, nil, "host:port", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"peers"}, tt.args...), &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, stdout.String(), stderr.String())
			}
			for _, re := range tt.want {
				if !regexp.MustCompile(re).MatchString(stdout.String()) {
					t.Errorf("no line matching %s in\n%s", re, stdout.String())
				}
			}
			if tt.wantBody && !bytes.Equal(stdout.Bytes(), body) {
				t.Errorf("stdout = %s, want the answer as is", stdout.String())
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr = %q, want %q in it", stderr.String(), tt.wantErr)
			}
		})
	}
}
