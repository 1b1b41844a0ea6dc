package pipeline

import (
	"github.com/koistream/koistream/pipeline/eventhive"
	wire "github.com/koistream/koistream/topics/eventhive"
)

// eventHiveSource is the eventhive source: PSUBSCRIBE to
// <network>/<input_channel>/* on a Redis server, every message appended to
// the raw topic as a topics/eventhive record (verified and decrypted when
// secret_env names a secret) and parsed by stages/eventhive; a message
// that fails goes to the dead topic with the reason (pipeline/eventhive).
// Its keys:
//
//	sources:
//	  - name: hive
//	    type: eventhive
//	    url_env: REDIS_URL          # or url: redis://host:6379/0
//	    network: koistream          # default
//	    input_channel: koistream    # default
//	    secret_env: HIVE_SECRET     # optional
func eventHiveSource() ConfigSource {
	return ConfigSource{
		Type: "eventhive",
		Kind: wire.SourceKind,
		Start: func(d SourceDeps, spec PluginSpec) error {
			var c struct {
				URL          string `yaml:"url"`
				URLEnv       string `yaml:"url_env"`
				Network      string `yaml:"network"`
				InputChannel string `yaml:"input_channel"`
				SecretEnv    string `yaml:"secret_env"`
			}
			if err := spec.Config.Decode(&c); err != nil {
				return err
			}
			url, secret, err := eventHiveConnection(spec, d.Getenv, c.URL, c.URLEnv, c.SecretEnv)
			if err != nil {
				return err
			}
			sub, err := eventhive.NewSubscriber(eventhive.SubscriberConfig{
				URL: url, Network: c.Network, InputChannel: c.InputChannel, Secret: secret,
				Publisher: d.Publisher, RawTopic: d.RawTopic, DeadTopic: d.DeadTopic,
				Name: spec.Name, Logger: d.Logger, Meter: d.Meter,
			})
			if err != nil {
				return spec.Config.Errorf("%v", err)
			}
			d.Background("redis", sub.Run)
			return nil
		},
	}
}
