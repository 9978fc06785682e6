package graphsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The emulator's own endpoints, under /_emulator/, let a person rehearse
// failures without writing Go: inject faults into the Graph calls and read
// back what the tenants hold. They are not part of Graph; the emulator
// binds loopback by default.
//
//	GET    /_emulator/state    every tenant's partners, apps, jobs, assignments and users
//	GET    /_emulator/faults   the faults in effect
//	POST   /_emulator/faults   add one (a FaultSpec as JSON)
//	DELETE /_emulator/faults   remove them all

// FaultSpec is a Fault as people write it: JSON for the endpoint, or
// key=value pairs for `ctsync emulator --fault`.
type FaultSpec struct {
	Method     string `json:"method,omitempty"`
	Path       string `json:"path,omitempty"`
	Tenant     string `json:"tenant,omitempty"`
	Status     int    `json:"status,omitempty"`
	Code       string `json:"code,omitempty"`
	RetryAfter string `json:"retryAfter,omitempty"`
	Times      int    `json:"times,omitempty"`
	Skip       int    `json:"skip,omitempty"`
	Latency    string `json:"latency,omitempty"`
	Drop       bool   `json:"drop,omitempty"`
}

// Fault checks the spec and returns the fault it describes.
func (f FaultSpec) Fault() (Fault, error) {
	out := Fault{Method: strings.ToUpper(f.Method), PathContains: f.Path, Tenant: f.Tenant, Status: f.Status, Code: f.Code,
		RetryAfter: f.RetryAfter, Times: f.Times, Skip: f.Skip, DropAfterCommit: f.Drop}
	switch out.Method {
	case "", http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return Fault{}, fmt.Errorf("method %q: want GET, POST, PUT, PATCH or DELETE", f.Method)
	}
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		return Fault{}, fmt.Errorf("status %d: want an HTTP error status (400-599)", f.Status)
	}
	if f.Times < 0 || f.Skip < 0 {
		return Fault{}, fmt.Errorf("times and skip must not be negative")
	}
	if f.Latency != "" {
		d, err := time.ParseDuration(f.Latency)
		if err != nil || d < 0 {
			return Fault{}, fmt.Errorf("latency %q: want a duration such as 2s", f.Latency)
		}
		out.Latency = d
	}
	if f.RetryAfter != "" {
		if _, err := strconv.ParseFloat(f.RetryAfter, 64); err != nil {
			if _, err := http.ParseTime(f.RetryAfter); err != nil {
				return Fault{}, fmt.Errorf("retryAfter %q: want seconds or an HTTP date", f.RetryAfter)
			}
		}
	}
	if out.Status == 0 && !out.DropAfterCommit && out.Latency == 0 {
		return Fault{}, fmt.Errorf("a fault needs a status, drop or latency")
	}
	if out.Status != 0 && out.DropAfterCommit {
		return Fault{}, fmt.Errorf("a fault either answers with a status or drops the answer, not both")
	}
	return out, nil
}

// ParseFaultSpec reads "method=POST,path=/instantiate,status=429,retryAfter=2,times=1";
// "drop" alone stands for drop=true.
func ParseFaultSpec(s string) (FaultSpec, error) {
	var f FaultSpec
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, value, hasValue := strings.Cut(part, "=")
		var err error
		switch strings.ToLower(key) {
		case "method":
			f.Method = value
		case "path":
			f.Path = value
		case "tenant":
			f.Tenant = value
		case "status":
			f.Status, err = strconv.Atoi(value)
		case "code":
			f.Code = value
		case "retryafter", "retry-after":
			f.RetryAfter = value
		case "times":
			f.Times, err = strconv.Atoi(value)
		case "skip":
			f.Skip, err = strconv.Atoi(value)
		case "latency":
			f.Latency = value
		case "drop":
			f.Drop = !hasValue || value == "true"
		default:
			return f, fmt.Errorf("unknown fault key %q (method, path, tenant, status, code, retryAfter, times, skip, latency, drop)", key)
		}
		if err != nil {
			return f, fmt.Errorf("%s=%q is not a number", key, value)
		}
	}
	_, err := f.Fault()
	return f, err
}

func (s *Server) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /_emulator/state", func(w http.ResponseWriter, r *http.Request) {
		writePlainJSON(w, http.StatusOK, s.State())
	})
	mux.HandleFunc("GET /_emulator/faults", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		out := []FaultSpec{}
		for _, f := range s.faults {
			out = append(out, f.spec())
		}
		s.mu.Unlock()
		writePlainJSON(w, http.StatusOK, map[string]any{"faults": out})
	})
	mux.HandleFunc("POST /_emulator/faults", func(w http.ResponseWriter, r *http.Request) {
		var spec FaultSpec
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&spec); err != nil {
			writePlainJSON(w, http.StatusBadRequest, map[string]any{"error": "not a fault: " + err.Error()})
			return
		}
		f, err := spec.Fault()
		if err != nil {
			writePlainJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
			return
		}
		s.Inject(f)
		writePlainJSON(w, http.StatusCreated, spec)
	})
	mux.HandleFunc("DELETE /_emulator/faults", func(w http.ResponseWriter, r *http.Request) {
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	})
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.faults = nil
	s.mu.Unlock()
}

func (f *Fault) spec() FaultSpec {
	out := FaultSpec{Method: f.Method, Path: f.PathContains, Tenant: f.Tenant, Status: f.Status, Code: f.Code, RetryAfter: f.RetryAfter,
		Times: f.Times, Skip: f.Skip, Drop: f.DropAfterCommit}
	if f.Latency > 0 {
		out.Latency = f.Latency.String()
	}
	return out
}

// TenantState is one tenant in the state dump.
type TenantState struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Snapshot
}

// State returns every tenant's snapshot, sorted by id.
func (s *Server) State() map[string][]TenantState {
	s.mu.Lock()
	ids := make([]string, 0, len(s.tenants))
	names := map[string]string{}
	for id, t := range s.tenants {
		ids = append(ids, id)
		names[id] = t.displayName
	}
	s.mu.Unlock()
	sort.Strings(ids)
	out := make([]TenantState, 0, len(ids))
	for _, id := range ids {
		out = append(out, TenantState{ID: id, DisplayName: names[id], Snapshot: s.Tenant(id)})
	}
	return map[string][]TenantState{"tenants": out}
}
