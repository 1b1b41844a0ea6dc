package pipeline

import (
	"github.com/koistream/koistream/pipeline/webhook"
	ghwire "github.com/koistream/koistream/topics/github"
)

// githubWebhookSource takes GitHub webhooks at Config.WebhookPath: HMAC
// verified with Config.WebhookSecrets, appended unchanged to the raw topic,
// answered 202 only once durably in the log (pipeline/webhook).
func githubWebhookSource() Source {
	return Source{
		Kind: ghwire.SourceKind,
		Start: func(d SourceDeps) error {
			wh, err := webhook.New(webhook.Config{
				Secrets:    d.Config.WebhookSecrets,
				Topic:      d.RawTopic,
				Publisher:  d.Publisher,
				Tracer:     d.Tracer,
				Logger:     d.Logger,
				BodyBudget: d.Config.WebhookBodyBudget,
			})
			if err != nil {
				return err
			}
			d.Mux.Handle(d.Config.WebhookPath, wh)
			return nil
		},
	}
}
