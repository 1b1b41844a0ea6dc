package yamlconf

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// Block is one subtree of a configuration kept for the code that owns it,
// such as a pipeline stage's own block, so that code decodes it into its own
// struct, as strictly and with the same file:line errors as the rest of the
// file. The zero Block, and a Block of a null value, is empty. A Block is
// immutable and safe for concurrent use.
type Block struct {
	file string
	path string
	node *yaml.Node // nil: no block
	at   *yaml.Node // where errors about the block as a whole point
	err  error      // set when a Go value could not be encoded
}

// Block returns the subtree n, named path in messages, as a Block of d's
// file. at is where errors about the block as a whole point (the block's
// key, or the entry naming it); n may be nil for an entry without a block.
func (d *Decoder) Block(n, at *yaml.Node, path string) *Block {
	if at == nil {
		at = n
	}
	return &Block{file: d.file, path: path, node: n, at: at}
}

// BlockOf returns v encoded as YAML as a Block with no file: configuration
// written in Go (tests, benchmarks) decoded like configuration from a file.
func BlockOf(v any) *Block {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return &Block{err: fmt.Errorf("encode configuration: %w", err)}
	}
	return &Block{node: &n}
}

// Empty reports whether there is no block, or its value is null.
func (b *Block) Empty() bool {
	return b == nil || b.err == nil && (b.node == nil || isNull(b.node))
}

// Decode decodes the block into v strictly (see [Decoder.Decode]); an empty
// block leaves v unchanged.
func (b *Block) Decode(v any) error {
	if b == nil {
		return NewDecoder("").Decode(nil, "", v)
	}
	if b.err != nil {
		return b.err
	}
	return NewDecoder(b.file).Decode(b.node, b.path, v)
}

// Errorf returns an [*Error] about the block as a whole: at its line, with
// its key path as the message's first words.
func (b *Block) Errorf(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if b == nil {
		return &Error{Msg: msg}
	}
	e := &Error{File: b.file, Msg: msg}
	if b.path != "" {
		e.Msg = b.path + ": " + msg
	}
	if b.at != nil && b.file != "" {
		e.Line = b.at.Line
	}
	return e
}
