package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/danube-connect/connect/internal/wire/schemapb"
)

var _ schemapb.SchemaRegistryServer = (*Registry)(nil)

// RegisterSchema registers a schema version under a subject, creating the subject on first use.
// An identical schema (same fingerprint) returns the existing version with IsNewVersion false.
// Every failure is INTERNAL "Failed to register schema: …", as on the real broker.
func (r *Registry) RegisterSchema(_ context.Context, req *schemapb.RegisterSchemaRequest) (*schemapb.RegisterSchemaResponse, error) {
	resp, err := r.register(req)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "Failed to register schema: %v", err)
	}
	return resp, nil
}

func (r *Registry) register(req *schemapb.RegisterSchemaRequest) (*schemapb.RegisterSchemaResponse, error) {
	if req.GetSubject() == "" {
		return nil, errors.New("subject must not be empty")
	}
	typ, err := ParseSchemaType(req.GetSchemaType())
	if err != nil {
		return nil, err
	}
	def, err := parseDefinition(typ, req.GetSchemaDefinition())
	if err != nil {
		return nil, err
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	s, exists := r.subjects[req.GetSubject()]
	if exists {
		for _, v := range s.versions {
			if v.def.typ == def.typ && v.def.fingerprint == def.fingerprint {
				return &schemapb.RegisterSchemaResponse{SchemaId: s.id, Version: v.number, Fingerprint: v.def.fingerprint}, nil
			}
		}
		if latest := s.latest(); latest != nil {
			if errs := compatibilityErrors(s.mode, latest.def, def); len(errs) > 0 {
				return nil, fmt.Errorf("schema is not %s compatible with version %d: %s",
					s.mode, latest.number, strings.Join(errs, "; "))
			}
		}
	} else {
		s = &subject{name: req.GetSubject(), id: r.nextID, mode: CompatibilityBackward, nextVersion: 1}
	}
	v := &version{
		number:      s.nextVersion,
		def:         def,
		description: req.GetDescription(),
		createdBy:   req.GetCreatedBy(),
		tags:        slices.Clone(req.GetTags()),
		createdAt:   r.now().Unix(),
	}

	// Apply, persist, and undo if the state could not be written.
	s.versions = append(s.versions, v)
	s.nextVersion++
	if !exists {
		r.subjects[s.name] = s
		r.byID[s.id] = s
		r.nextID++
	}
	if err := r.save(); err != nil {
		s.versions = s.versions[:len(s.versions)-1]
		s.nextVersion--
		if !exists {
			delete(r.subjects, s.name)
			delete(r.byID, s.id)
			r.nextID--
		}
		return nil, err
	}
	r.log.Debug("schema registered", "subject", s.name, "schema_id", s.id, "version", v.number, "schema_type", string(def.typ))
	return &schemapb.RegisterSchemaResponse{SchemaId: s.id, Version: v.number, IsNewVersion: true, Fingerprint: def.fingerprint}, nil
}

// GetSchema returns a version of the subject with the given id, the latest when no version is
// asked for. Unknown ids and versions are NOT_FOUND.
func (r *Registry) GetSchema(_ context.Context, req *schemapb.GetSchemaRequest) (*schemapb.GetSchemaResponse, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.byID[req.GetSchemaId()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Schema not found for ID: %d", req.GetSchemaId())
	}
	var v *version
	if req.Version != nil {
		v = s.find(req.GetVersion())
		if v == nil {
			return nil, status.Errorf(codes.NotFound, "Schema not found for ID: %d, version %d", req.GetSchemaId(), req.GetVersion())
		}
	} else if v = s.latest(); v == nil {
		return nil, status.Errorf(codes.NotFound, "Schema not found for ID: %d (no versions)", req.GetSchemaId())
	}
	return schemaResponse(s, v), nil
}

// GetLatestSchema returns the latest version of a subject, NOT_FOUND if there is none.
func (r *Registry) GetLatestSchema(_ context.Context, req *schemapb.GetLatestSchemaRequest) (*schemapb.GetSchemaResponse, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.subjects[req.GetSubject()]
	var v *version
	if ok {
		v = s.latest()
	}
	if v == nil {
		return nil, status.Errorf(codes.NotFound, "Schema not found for subject: %s", req.GetSubject())
	}
	return schemaResponse(s, v), nil
}

func schemaResponse(s *subject, v *version) *schemapb.GetSchemaResponse {
	return &schemapb.GetSchemaResponse{
		SchemaId:          s.id,
		Version:           v.number,
		Subject:           s.name,
		SchemaType:        string(v.def.typ),
		SchemaDefinition:  v.def.envelope(),
		Description:       v.description,
		CreatedAt:         uint64(max(v.createdAt, 0)),
		CreatedBy:         v.createdBy,
		Tags:              slices.Clone(v.tags),
		Fingerprint:       v.def.fingerprint,
		CompatibilityMode: string(s.mode),
	}
}

// ListVersions lists a subject's versions in ascending order, NOT_FOUND if the subject is unknown.
func (r *Registry) ListVersions(_ context.Context, req *schemapb.ListVersionsRequest) (*schemapb.ListVersionsResponse, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.subjects[req.GetSubject()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Subject not found: %s", req.GetSubject())
	}
	resp := &schemapb.ListVersionsResponse{Versions: make([]*schemapb.SchemaVersionInfo, 0, len(s.versions))}
	for _, v := range s.versions {
		resp.Versions = append(resp.Versions, &schemapb.SchemaVersionInfo{
			Version:     v.number,
			CreatedAt:   uint64(max(v.createdAt, 0)),
			CreatedBy:   v.createdBy,
			Description: v.description,
			Fingerprint: v.def.fingerprint,
			SchemaId:    s.id,
		})
	}
	return resp, nil
}

// CheckCompatibility checks a candidate schema against the subject's latest version under the
// subject's mode, or under the request's mode when it parses (unparseable overrides are ignored).
// A missing subject or an invalid type or schema is INTERNAL.
func (r *Registry) CheckCompatibility(_ context.Context, req *schemapb.CheckCompatibilityRequest) (*schemapb.CheckCompatibilityResponse, error) {
	errs, err := r.checkCompatibility(req)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "Failed to check compatibility: %v", err)
	}
	return &schemapb.CheckCompatibilityResponse{IsCompatible: len(errs) == 0, Errors: errs}, nil
}

func (r *Registry) checkCompatibility(req *schemapb.CheckCompatibilityRequest) ([]string, error) {
	typ, err := ParseSchemaType(req.GetSchemaType())
	if err != nil {
		return nil, err
	}
	def, err := parseDefinition(typ, req.GetNewSchemaDefinition())
	if err != nil {
		return nil, err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.subjects[req.GetSubject()]
	if !ok {
		return nil, fmt.Errorf("subject %q not found", req.GetSubject())
	}
	mode := s.mode
	if req.CompatibilityMode != nil {
		if m, err := ParseCompatibilityMode(req.GetCompatibilityMode()); err == nil {
			mode = m
		}
	}
	latest := s.latest()
	if latest == nil {
		return nil, nil
	}
	return compatibilityErrors(mode, latest.def, def), nil
}

// DeleteSchemaVersion deletes one version of a subject. Unlike the real broker, the version is
// gone everywhere: from ListVersions, GetSchema, the latest version and deduplication. Version
// numbers are never reused. A missing subject or version is INTERNAL, as on the real broker.
func (r *Registry) DeleteSchemaVersion(_ context.Context, req *schemapb.DeleteSchemaVersionRequest) (*schemapb.DeleteSchemaVersionResponse, error) {
	if err := r.deleteVersion(req.GetSubject(), req.GetVersion()); err != nil {
		return nil, status.Errorf(codes.Internal, "Failed to delete schema version: %v", err)
	}
	return &schemapb.DeleteSchemaVersionResponse{
		Success: true,
		Message: fmt.Sprintf("Deleted version %d for subject %s", req.GetVersion(), req.GetSubject()),
	}, nil
}

func (r *Registry) deleteVersion(name string, number uint32) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.subjects[name]
	if !ok {
		return fmt.Errorf("subject %q not found", name)
	}
	i := slices.IndexFunc(s.versions, func(v *version) bool { return v.number == number })
	if i < 0 {
		return fmt.Errorf("version %d of subject %q not found", number, name)
	}
	removed := s.versions[i]
	s.versions = slices.Delete(s.versions, i, i+1)
	if err := r.save(); err != nil {
		s.versions = slices.Insert(s.versions, i, removed)
		return err
	}
	return nil
}

// SetCompatibilityMode sets a subject's compatibility mode. A bad mode string is INVALID_ARGUMENT,
// a missing subject INTERNAL.
func (r *Registry) SetCompatibilityMode(_ context.Context, req *schemapb.SetCompatibilityModeRequest) (*schemapb.SetCompatibilityModeResponse, error) {
	mode, err := ParseCompatibilityMode(req.GetCompatibilityMode())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "Invalid compatibility mode: %s", req.GetCompatibilityMode())
	}
	if err := r.setMode(req.GetSubject(), mode); err != nil {
		return nil, status.Errorf(codes.Internal, "Failed to set compatibility mode: %v", err)
	}
	return &schemapb.SetCompatibilityModeResponse{
		Success: true,
		Message: fmt.Sprintf("Set compatibility mode to %s for subject %s", mode, req.GetSubject()),
	}, nil
}

func (r *Registry) setMode(name string, mode CompatibilityMode) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.subjects[name]
	if !ok {
		return fmt.Errorf("subject %q not found", name)
	}
	old := s.mode
	s.mode = mode
	if err := r.save(); err != nil {
		s.mode = old
		return err
	}
	return nil
}

// ListSubjects lists every subject, sorted by name.
func (r *Registry) ListSubjects(context.Context, *schemapb.ListSubjectsRequest) (*schemapb.ListSubjectsResponse, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	resp := &schemapb.ListSubjectsResponse{Subjects: make([]*schemapb.SubjectSummary, 0, len(r.subjects))}
	for _, name := range sortedKeys(r.subjects) {
		s := r.subjects[name]
		sum := &schemapb.SubjectSummary{
			Subject: s.name, SchemaType: string(TypeBytes), CompatibilityMode: string(s.mode), SchemaId: s.id,
		}
		if v := s.latest(); v != nil {
			sum.SchemaType = string(v.def.typ)
			sum.LatestVersion = v.number
			sum.Tags = slices.Clone(v.tags)
		}
		resp.Subjects = append(resp.Subjects, sum)
	}
	return resp, nil
}
