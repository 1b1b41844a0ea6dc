// Package yamlconf decodes YAML configuration strictly and explains every
// mistake in one line a person can act on: the file, the line, the key path
// in the configuration's own words, and for a mistyped key the nearest known
// key. It never shows Go type names.
//
// It walks yaml.Node trees (go.yaml.in/yaml/v3) into Go values by
// reflection, keyed by the fields' yaml tags. Types that accept several
// shapes implement [Unmarshaler]; types that check their value implement
// [Validator]. A [Block] keeps one subtree for the code that owns it, such
// as a pipeline stage's own configuration block.
//
// It lives under stages, not pipeline, because a stage decodes its own
// block with it ([Block]) and dependencies point from pipeline to stages,
// never back.
package yamlconf
