package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/topics/koi"
)

// identityFlags are the flags of koistream identity.
type identityFlags struct {
	config, dataDir, listen, name, baseURL string
}

func newIdentityCmd() *cobra.Command {
	var f identityFlags
	cmd := &cobra.Command{
		Use:   "identity",
		Short: "Print the node's KOI-net RID and profile, creating its key on first use",
		Long: `Print the node's KOI-net identity as one JSON object, {"rid":…,"profile":…}: the node RID
orn:koi-net.node:<name>+<sha256 of the public key> and the profile contents as koi-net 2.1
publishes them. The P-256 key lives in <data-dir>/identity/priv_key.pem (mode 0600); it is
created there when missing, encrypted with the password in PRIV_KEY_PASSWORD (or the variable
the file's env.priv_key_password names) when that is set.

It reads the same settings as serve (--config, then --data-dir and --listen given on the
command line), so it prints the identity serve runs with: koi_net.node_name (default
github-sensor) and koi_net.node_profile.base_url (default http://<listen><server.path>).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return identity(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "YAML configuration file, as for serve")
	fl.StringVar(&f.dataDir, "data-dir", pipeline.DefaultDataDir, "the node's data folder")
	fl.StringVar(&f.listen, "listen", pipeline.DefaultListen, "HTTP host:port, as for serve (the default base_url's address)")
	fl.StringVar(&f.name, "name", pipeline.DefaultNodeName, "the node name in the RID (no '+'); overrides koi_net.node_name")
	fl.StringVar(&f.baseURL, "base-url", "", "the profile's base_url; overrides koi_net.node_profile.base_url")
	return cmd
}

// identity loads or creates the key and prints the RID and profile. A bad
// configuration is a usage mistake; a key that cannot be read or written is
// a runtime failure.
func identity(cmd *cobra.Command, f identityFlags) error {
	var cfg pipeline.Config
	passwordEnv := pipeline.PrivKeyPasswordEnv
	file, err := applyConfigFile(f.config, &cfg)
	if err != nil {
		return err
	}
	if file != nil {
		passwordEnv = file.PrivKeyPasswordEnv()
	}
	// As in serve: only flags given on the command line override the file.
	set := cmd.Flags().Changed
	if set("data-dir") {
		cfg.DataDir = f.dataDir
	}
	if set("listen") {
		cfg.Listen = f.listen
	}
	if set("name") {
		cfg.NodeName = f.name
	}
	if set("base-url") {
		cfg.BaseURL = f.baseURL
	}
	cfg.SetDefaults()
	if _, err := koi.NodeRIDForKey(cfg.NodeName, ""); err != nil {
		return configError(fmt.Errorf("koistream identity: node name: %w", err))
	}
	cfg.PrivKeyPassword = []byte(os.Getenv(passwordEnv))
	id, err := pipeline.NodeIdentity(cfg)
	if err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("koistream identity: %w", err)}
	}
	out := []byte(`{"rid":`)
	out = koi.AppendString(out, id.RID)
	out = append(out, `,"profile":`...)
	// What serve publishes when it listens on the configured address.
	out = append(out, pipeline.ProfileOf(cfg, id, cfg.Listen)...)
	out = append(out, "}\n"...)
	_, err = cmd.OutOrStdout().Write(out)
	return err
}
