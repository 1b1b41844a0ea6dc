package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/topics/koi"
)

// defaultNodeName is the node name of the identity command's RID: the one
// BlockScience's GitHub sensor and the KOI-net examples use.
const defaultNodeName = "github-sensor"

func newIdentityCmd() *cobra.Command {
	var dataDir, name, baseURL string
	cmd := &cobra.Command{
		Use:   "identity",
		Short: "Print the node's KOI-net RID and profile, creating its key on first use",
		Long: `Print the node's KOI-net identity as one JSON object, {"rid":…,"profile":…}: the node RID
orn:koi-net.node:<name>+<sha256 of the public key> and the profile contents as koi-net 2.1
publishes them. The P-256 key lives in <data-dir>/identity/priv_key.pem (mode 0600); it is
created there when missing, encrypted with the password in PRIV_KEY_PASSWORD when that is set.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return identity(cmd, dataDir, name, baseURL)
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", pipeline.DefaultDataDir, "the node's data folder")
	cmd.Flags().StringVar(&name, "name", defaultNodeName, "the node name in the RID (no '+')")
	cmd.Flags().StringVar(&baseURL, "base-url", "http://"+pipeline.DefaultListen+"/koi-net", "the profile's base_url, where peers reach the KOI-net API")
	return cmd
}

// identity loads or creates the key and prints the RID and profile. A bad
// name is a usage mistake; a key that cannot be read or written is a
// runtime failure.
func identity(cmd *cobra.Command, dataDir, name, baseURL string) error {
	if _, err := koi.NodeRIDForKey(name, ""); err != nil {
		return configError(fmt.Errorf("koistream identity: --name: %w", err))
	}
	id, err := pipeline.LoadIdentity(dataDir, name)
	if err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("koistream identity: %w", err)}
	}
	out := []byte(`{"rid":`)
	out = koi.AppendString(out, id.RID)
	out = append(out, `,"profile":`...)
	out = append(out, pipeline.NodeProfileJSON(baseURL, pipeline.GitHubTypes, id.PublicKey)...)
	out = append(out, "}\n"...)
	_, err = cmd.OutOrStdout().Write(out)
	return err
}
