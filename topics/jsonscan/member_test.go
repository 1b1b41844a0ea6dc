package jsonscan_test

import (
	"testing"

	"github.com/koistream/koistream/topics/jsonscan"
)

func TestHasMember(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       bool
	}{
		{"first member", `{"payload":{},"x":1}`, true},
		{"later member after nested values", `{"a":[1,{"payload":2}],"b":"}","signature":"s"}`, true},
		{"escaped name", `{"p\u0061yload":1}`, true},
		{"only nested", `{"a":{"payload":1}}`, false},
		{"empty object", ` { } `, false},
		{"not an object", `["payload"]`, false},
		{"string", `"payload"`, false},
		{"too deep before the member", `{"a":[[[[1]]]],"payload":1}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := jsonscan.HasMember([]byte(tc.body), 3, "payload", "signature"); got != tc.want {
				t.Errorf("HasMember(%s) = %v, want %v", tc.body, got, tc.want)
			}
		})
	}
}
