package stages

import (
	"fmt"
	"sort"
	"sync"
)

// Registry maps stage names to factories. It is the one place stages are
// made known to the pipeline; configuration then places them by name. A
// Registry is safe for concurrent use.
type Registry struct {
	mu        sync.RWMutex
	factories map[string]Factory
}

// NewRegistry returns an empty registry. Most callers want [Builtin].
func NewRegistry() *Registry {
	return &Registry{factories: make(map[string]Factory)}
}

// Builtin returns a registry holding every stage koistream ships:
// normalize, dedupe, ridify and the extra stage repofilter. Registering a new stage
// here, with its name, is all it takes to make it placeable by configuration.
func Builtin() *Registry {
	r := NewRegistry()
	r.mustRegister(NormalizeName, NewNormalize)
	r.mustRegister(DedupeName, NewDedupe)
	r.mustRegister(RidifyName, NewRidify)
	r.mustRegister(RepoFilterName, NewRepoFilter)
	return r
}

// Register adds a stage factory under name. It fails if the name is empty
// or already taken.
func (r *Registry) Register(name string, f Factory) error {
	if name == "" || f == nil {
		return fmt.Errorf("register stage: name and factory are required")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.factories[name]; ok {
		return fmt.Errorf("register stage %q: already registered", name)
	}
	r.factories[name] = f
	return nil
}

func (r *Registry) mustRegister(name string, f Factory) {
	if err := r.Register(name, f); err != nil {
		panic(err)
	}
}

// New builds the stage registered under name with its configuration block
// cfg; nil means the stage was placed without one.
func (r *Registry) New(name string, deps Deps, cfg Config) (Stage, error) {
	r.mu.RLock()
	f, ok := r.factories[name]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("stage %q is not registered (known: %v)", name, r.Names())
	}
	if cfg == nil {
		cfg = NoConfig()
	}
	s, err := f(deps, cfg)
	if err != nil {
		return nil, fmt.Errorf("build stage %q: %w", name, err)
	}
	return s, nil
}

// Names returns the registered stage names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.factories))
	for n := range r.factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
