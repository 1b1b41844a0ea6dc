package main

import "github.com/koistream/koistream/pipeline"

// applyConfigFile reads the YAML file at path into cfg, as serve and
// identity both do before their flags override it. It returns the file for
// the settings that are not Config fields (environment variable names, the
// keys read but not used yet), or nil when path is empty. Its errors are
// configuration errors (exit code 2).
func applyConfigFile(path string, cfg *pipeline.Config) (*pipeline.File, error) {
	if path == "" {
		return nil, nil
	}
	file, err := pipeline.LoadFile(path)
	if err != nil {
		return nil, configError(err)
	}
	if err := file.Apply(cfg); err != nil {
		return nil, configError(err)
	}
	return file, nil
}
