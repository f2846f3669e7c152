package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// stateFileName is the registry's file inside the data directory.
const stateFileName = "schema-registry.json"

const stateFormat = 1

type stateFile struct {
	Format   int            `json:"format"`
	NextID   uint64         `json:"next_id"`
	Subjects []stateSubject `json:"subjects"`
}

type stateSubject struct {
	Name        string            `json:"name"`
	ID          uint64            `json:"id"`
	Mode        CompatibilityMode `json:"compatibility_mode"`
	NextVersion uint32            `json:"next_version"`
	Versions    []stateVersion    `json:"versions"`
}

type stateVersion struct {
	Version     uint32     `json:"version"`
	Type        SchemaType `json:"schema_type"`
	Definition  []byte     `json:"definition,omitempty"`
	Description string     `json:"description,omitempty"`
	CreatedBy   string     `json:"created_by,omitempty"`
	Tags        []string   `json:"tags,omitempty"`
	CreatedAt   int64      `json:"created_at"`
}

// load creates dir if needed and reads the state file in it, if any.
func (r *Registry) load(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("open schema registry in %q: %w", dir, err)
	}
	r.path = filepath.Join(dir, stateFileName)
	// Temporary files of writes interrupted by a crash are garbage; the state file is intact.
	if stale, err := filepath.Glob(r.path + ".tmp-*"); err == nil {
		for _, f := range stale {
			_ = os.Remove(f)
		}
	}
	b, err := os.ReadFile(r.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open schema registry: %w", err)
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("open schema registry: decode %s: %w", r.path, err)
	}
	if st.Format != stateFormat {
		return fmt.Errorf("open schema registry: %s has unknown format %d", r.path, st.Format)
	}
	r.nextID = max(st.NextID, 1)
	for _, ss := range st.Subjects {
		mode, err := ParseCompatibilityMode(string(ss.Mode))
		if err != nil {
			return fmt.Errorf("open schema registry: subject %q: %w", ss.Name, err)
		}
		if _, dup := r.subjects[ss.Name]; dup {
			return fmt.Errorf("open schema registry: subject %q stored twice", ss.Name)
		}
		if _, dup := r.byID[ss.ID]; dup || ss.ID == 0 {
			return fmt.Errorf("open schema registry: subject %q has bad or duplicate id %d", ss.Name, ss.ID)
		}
		s := &subject{name: ss.Name, id: ss.ID, mode: mode, nextVersion: ss.NextVersion}
		for _, sv := range ss.Versions {
			def, err := parseDefinition(sv.Type, sv.Definition)
			if err != nil {
				return fmt.Errorf("open schema registry: subject %q version %d: %w", ss.Name, sv.Version, err)
			}
			if n := len(s.versions); n > 0 && s.versions[n-1].number >= sv.Version {
				return fmt.Errorf("open schema registry: subject %q: versions out of order", ss.Name)
			}
			s.versions = append(s.versions, &version{
				number: sv.Version, def: def, description: sv.Description, createdBy: sv.CreatedBy,
				tags: sv.Tags, createdAt: sv.CreatedAt,
			})
			s.nextVersion = max(s.nextVersion, sv.Version+1)
		}
		s.nextVersion = max(s.nextVersion, 1)
		r.subjects[s.name] = s
		r.byID[s.id] = s
		r.nextID = max(r.nextID, s.id+1)
	}
	return nil
}

// save writes the whole state atomically: a temporary file is written and synced, renamed over
// the state file, and the directory is synced, so a crash leaves either the old or the new state.
// The caller holds r.mu for writing.
func (r *Registry) save() error {
	if r.path == "" {
		return nil
	}
	st := stateFile{Format: stateFormat, NextID: r.nextID, Subjects: make([]stateSubject, 0, len(r.subjects))}
	for _, name := range sortedKeys(r.subjects) {
		s := r.subjects[name]
		ss := stateSubject{Name: s.name, ID: s.id, Mode: s.mode, NextVersion: s.nextVersion,
			Versions: make([]stateVersion, 0, len(s.versions))}
		for _, v := range s.versions {
			ss.Versions = append(ss.Versions, stateVersion{
				Version: v.number, Type: v.def.typ, Definition: v.def.raw, Description: v.description,
				CreatedBy: v.createdBy, Tags: v.tags, CreatedAt: v.createdAt,
			})
		}
		st.Subjects = append(st.Subjects, ss)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("persist schema registry: %w", err)
	}
	if err := writeFileAtomic(r.path, b); err != nil {
		return fmt.Errorf("persist schema registry: %w", err)
	}
	return nil
}

func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return werr
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	serr := d.Sync()
	if cerr := d.Close(); serr == nil {
		serr = cerr
	}
	return serr
}
