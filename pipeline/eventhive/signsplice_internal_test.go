package eventhive

import (
	"bytes"
	"testing"
)

// TestSignedCanonicalSplice: the signed form built by splicing the
// signature member into the canonical form of the rest is byte for byte
// the canonical form of the whole, wherever the member sorts.
func TestSignedCanonicalSplice(t *testing.T) {
	c := NewCodec("m1s3cr3t")
	for _, tt := range []struct{ name, msg string }{
		{"sorts first", `{"a":1,"b":[1,2]}`},
		{"sorts in the middle", `{"__eventhive__":{"time":1.5,"id":"x"},"zeta":"é","param":{"k":null}}`},
		{"sorts last", `{"A":1,"B":"\ud83d\ude00","_":true}`},
		{"only member", `{}`},
		{"duplicate names", `{"x":1,"x":2,"__sign__":"old"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n, err := parseObject([]byte(tt.msg))
			if err != nil {
				t.Fatal(err)
			}
			n = withoutMember(n, SignKey)
			got := c.signedCanonical(n)
			sig := c.sign(n)
			whole := &node{kind: '{', members: append(append([]*node(nil), n.members...),
				&node{kind: '"', lit: []byte(sig), key: []rune(SignKey), keyLit: []byte(SignKey)})}
			if want := appendCanonical(nil, whole); !bytes.Equal(got, want) {
				t.Errorf("spliced\n%s\nwant\n%s", got, want)
			}
		})
	}
}
