package pipeline

import (
	"github.com/koistream/koistream/pipeline/eventhive"
)

// eventHiveConnection returns the Redis URL and the secret of an eventhive
// entry, sink or source, from its url, url_env and secret_env keys, or a
// configuration error: one of url and url_env is required, and a variable
// named must be set.
func eventHiveConnection(spec PluginSpec, getenv func(string) string, urlKey, urlEnv, secretEnv string) (url, secret string, err error) {
	switch {
	case urlKey != "" && urlEnv != "":
		return "", "", spec.Config.Errorf("give url or url_env, not both")
	case urlKey != "":
		url = urlKey
	case urlEnv != "":
		if url = getenv(urlEnv); url == "" {
			return "", "", spec.Config.Errorf("url_env: environment variable %s is not set", urlEnv)
		}
	default:
		return "", "", spec.Config.Errorf("url or url_env (a redis:// URL) is required")
	}
	if secretEnv != "" {
		if secret = getenv(secretEnv); secret == "" {
			return "", "", spec.Config.Errorf("secret_env: environment variable %s is not set", secretEnv)
		}
	}
	return url, secret, nil
}

// eventHiveSink is the eventhive sink: every event of the events topic
// PUBLISHed as an EventHive message to <network>/<channel>/<event> on a
// Redis server, signed and encrypted when secret_env names a secret
// (pipeline/eventhive). Its keys:
//
//	sinks:
//	  - name: hive
//	    type: eventhive
//	    url_env: REDIS_URL        # or url: redis://host:6379/0
//	    network: koistream        # default
//	    channel: github           # default
//	    secret_env: HIVE_SECRET   # optional
//	    filter: {rid_types: [orn:github.event], keys: [evt.push.*]}  # optional
func eventHiveSink() Sink {
	return Sink{
		Type: "eventhive",
		Start: func(d SinkDeps) error {
			var c struct {
				URL       string           `yaml:"url"`
				URLEnv    string           `yaml:"url_env"`
				Network   string           `yaml:"network"`
				Channel   string           `yaml:"channel"`
				SecretEnv string           `yaml:"secret_env"`
				Filter    eventhive.Filter `yaml:"filter"`
			}
			if err := d.Spec.Config.Decode(&c); err != nil {
				return err
			}
			url, secret, err := eventHiveConnection(d.Spec, d.Getenv, c.URL, c.URLEnv, c.SecretEnv)
			if err != nil {
				return err
			}
			sink, err := eventhive.NewSink(eventhive.SinkConfig{
				URL: url, Brokers: d.Brokers, Group: d.Group, EventsTopic: d.EventsTopic,
				Publisher: eventhive.PublisherConfig{
					Network: c.Network, Channel: c.Channel, Secret: secret, Filter: c.Filter,
					Name: d.Spec.Name, Logger: d.Logger, Meter: d.Meter,
				},
			})
			if err != nil {
				return d.Spec.Config.Errorf("%v", err)
			}
			d.Background("redis", sink.Run)
			return nil
		},
	}
}
