package graphsim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.openIDConfiguration)
	mux.HandleFunc("GET /{tenant}/.well-known/openid-configuration", s.openIDConfiguration)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.token)
	mux.HandleFunc("GET /msi/token", s.managedIdentityToken)
	s.adminRoutes(mux)

	g := func(pattern string, perms []string, h func(c *call)) {
		method, path, _ := strings.Cut(pattern, " ")
		mux.HandleFunc(method+" /{version}"+path, s.graph(perms, h))
	}
	const partners = "/policies/crossTenantAccessPolicy/partners"
	g("GET "+partners, policyRead, s.listPartners)
	g("POST "+partners, policyWrite, s.createPartner)
	g("GET "+partners+"/{partner}", policyRead, s.getPartner)
	g("PATCH "+partners+"/{partner}", policyWrite, s.updatePartner)
	g("DELETE "+partners+"/{partner}", policyWrite, s.deletePartner)
	g("GET "+partners+"/{partner}/identitySynchronization", policyRead, s.getIdentitySync)
	g("PUT "+partners+"/{partner}/identitySynchronization", policyWrite, s.putIdentitySync)
	g("PATCH "+partners+"/{partner}/identitySynchronization", policyWrite, s.patchIdentitySync)
	g("DELETE "+partners+"/{partner}/identitySynchronization", policyWrite, s.deleteIdentitySync)

	g("POST /applicationTemplates/{template}/instantiate", appWrite, s.instantiate)
	g("GET /servicePrincipals", appRead, s.listServicePrincipals)
	g("GET /servicePrincipals/{sp}", appRead, s.getServicePrincipal)
	g("DELETE /servicePrincipals/{sp}", appWrite, s.deleteServicePrincipal)
	g("GET /applications", appRead, s.listApplications)
	g("DELETE /applications/{app}", appWrite, s.deleteApplication)
	g("GET /servicePrincipals/{sp}/appRoleAssignedTo", appRead, s.listAssignments)
	g("POST /servicePrincipals/{sp}/appRoleAssignedTo", assignWrite, s.createAssignment)
	g("DELETE /servicePrincipals/{sp}/appRoleAssignedTo/{assignment}", assignWrite, s.deleteAssignment)
	g("GET /users/{user}", userRead, s.getUser)
	g("GET /groups/{group}/members", memberRead, s.listGroupMembers)

	const sync = "/servicePrincipals/{sp}/synchronization"
	g("POST "+sync+"/jobs/validateCredentials", syncWrite, s.validateCredentials)
	g("GET "+sync+"/jobs", syncRead, s.listJobs)
	g("POST "+sync+"/jobs", syncWrite, s.createJob)
	g("GET "+sync+"/jobs/{job}", syncRead, s.getJob)
	g("DELETE "+sync+"/jobs/{job}", syncWrite, s.deleteJob)
	g("POST "+sync+"/jobs/{job}/validateCredentials", syncWrite, s.validateCredentials)
	g("GET "+sync+"/jobs/{job}/schema", syncRead, s.getSchema)
	g("PUT "+sync+"/jobs/{job}/schema", syncWrite, s.putSchema)
	g("PATCH "+sync+"/jobs/{job}/schema", syncWrite, s.patchSchema)
	g("GET "+sync+"/jobs/{job}/schema/filterOperators", syncRead, s.filterOperators)
	g("GET "+sync+"/jobs/{job}/schema/filterOperators()", syncRead, s.filterOperators) // the SDK calls the OData function form
	g("POST "+sync+"/jobs/{job}/provisionOnDemand", syncWrite, s.provisionOnDemand)
	g("POST "+sync+"/jobs/{job}/start", syncWrite, s.startJob)
	g("POST "+sync+"/jobs/{job}/pause", syncWrite, s.pauseJob)
	g("POST "+sync+"/jobs/{job}/restart", syncWrite, s.restartJob)
	g("PUT "+sync+"/secrets", syncWrite, s.putSecrets)

	g("GET /auditLogs/provisioning", auditRead, s.listProvisioning)

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writePlainJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{
			"code": "BadRequest", "message": fmt.Sprintf("Resource not found for the segment '%s'.", lastSegment(r.URL.Path))}})
	})
	return mux
}

// Application permissions per operation, least privileged first, as
// documented for each call.
var (
	policyRead  = []string{"Policy.Read.All", "Policy.ReadWrite.CrossTenantAccess"}
	policyWrite = []string{"Policy.ReadWrite.CrossTenantAccess"}
	appRead     = []string{"Application.Read.All", "Application.ReadWrite.OwnedBy", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	appWrite    = []string{"Application.ReadWrite.OwnedBy", "Application.ReadWrite.All", "Directory.ReadWrite.All"}
	assignWrite = []string{"AppRoleAssignment.ReadWrite.All", "Application.ReadWrite.All", "Directory.ReadWrite.All"}
	syncRead    = []string{"Synchronization.Read.All", "Synchronization.ReadWrite.All", "Application.ReadWrite.OwnedBy"}
	syncWrite   = []string{"Synchronization.ReadWrite.All", "Application.ReadWrite.OwnedBy"}
	auditRead   = []string{"AuditLog.Read.All"}
	userRead    = []string{"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	memberRead  = []string{"GroupMember.Read.All", "Group.Read.All", "Directory.Read.All", "Directory.ReadWrite.All"}
)

// graph wraps a Graph handler with what every Graph call goes through:
// version check, request log, injected faults, token validation and tenant
// resolution, permission check, and body decoding.
func (s *Server) graph(perms []string, h func(c *call)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := &call{s: s, w: w, r: r, version: r.PathValue("version"), requestID: newID()}
		c.path = strings.TrimPrefix(r.URL.Path, "/"+c.version)
		w.Header().Set("request-id", c.requestID)
		if cid := r.Header.Get("client-request-id"); cid != "" {
			w.Header().Set("client-request-id", cid)
		}
		w.Header().Set("x-ms-ags-diagnostic", `{"ServerInfo":{"DataCenter":"Loopback","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"graphsim"}}`)
		rec := Request{Time: s.now(), Method: r.Method, Path: c.path, Version: c.version, Query: r.URL.RawQuery,
			ContentEncoding: r.Header.Get("Content-Encoding"), RetryAttempt: r.Header.Get("Retry-Attempt"),
			ThrottlesSeen: r.Header.Get("x-ctsync-throttles-seen")}
		defer func() {
			rec.Status = c.status
			rec.RetryAfter = w.Header().Get("Retry-After")
			if c.tenant != nil {
				rec.Tenant = c.tenant.id
			}
			s.logRequest(rec)
		}()

		if c.version != "beta" && c.version != "v1.0" {
			c.odataError(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Invalid version: %s", c.version))
			return
		}
		if !s.authenticate(c) {
			return
		}
		tid := c.tenant.id
		fault := s.matchFault(r.Method, c.path, tid)
		if fault != nil && fault.Latency > 0 {
			fault.arrived(c.path)
			select {
			case <-time.After(fault.Latency):
			case <-r.Context().Done():
				return
			}
		}
		if fault != nil && fault.Status != 0 {
			if fault.Latency == 0 {
				fault.arrived(c.path)
			}
			if fault.RetryAfter != "" {
				w.Header().Set("Retry-After", fault.RetryAfter)
			}
			code := fault.Code
			if code == "" {
				code = defaultFaultCode(fault.Status)
			}
			if fault.Status == http.StatusTooManyRequests {
				c.tooManyRequests()
				return
			}
			c.odataError(fault.Status, code, http.StatusText(fault.Status))
			return
		}
		if !s.permitted(c.tenant, perms) {
			c.odataError(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
			return
		}
		if r.Method != http.MethodGet && !c.throttle("Write", s.opts.WritesPerWindow, s.opts.WriteWindow) {
			return
		}
		body, st, err := readBody(r)
		if err != nil {
			code := "BadRequest"
			if st == http.StatusUnsupportedMediaType {
				code = "UnsupportedMediaType"
			}
			c.odataError(st, code, err.Error())
			return
		}
		c.body = body
		if fault != nil && (fault.DropAfterCommit || fault.HangAfterCommit) {
			s.mu.Lock()
			h(&call{s: s, w: discardWriter{header: http.Header{}}, r: r, version: c.version, path: c.path, tenant: c.tenant, appID: c.appID, requestID: c.requestID, body: body})
			s.mu.Unlock()
			rec.Dropped = true
			c.status = 0
			fault.arrived(c.path)
			if fault.HangAfterCommit {
				<-r.Context().Done()
				return
			}
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					if tc, ok := conn.(interface{ CloseWrite() error }); ok {
						_ = tc.CloseWrite()
					}
					_ = conn.Close()
				}
			}
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		h(c)
	}
}

func defaultFaultCode(status int) string {
	switch status {
	case http.StatusServiceUnavailable:
		return "serviceNotAvailable"
	case http.StatusGatewayTimeout:
		return "UnknownError"
	case http.StatusInternalServerError:
		return "generalException"
	}
	return http.StatusText(status)
}

// tooManyRequests writes Graph's documented throttling answer; the caller
// sets Retry-After.
func (c *call) tooManyRequests() {
	c.writeJSON(http.StatusTooManyRequests, map[string]any{"error": map[string]any{
		"code": "TooManyRequests", "message": "Please retry again later.",
		"innerError": map[string]any{"code": "429", "date": c.s.now().Format("2006-01-02T15:04:05"),
			"message": "Please retry after", "request-id": c.requestID, "status": "429"}}})
}

// throttle applies a per-app-per-tenant sliding window; it answers 429 with
// Retry-After itself and returns false when the window is full.
func (c *call) throttle(bucket string, limit int, window time.Duration) bool {
	if limit < 0 {
		return true
	}
	wait := c.s.limiter.take(c.tenant.id+"|"+c.appID+"|"+bucket, limit, window, c.s.now())
	if wait <= 0 {
		return true
	}
	c.header().Set("Retry-After", strconv.FormatFloat(wait.Seconds(), 'f', 3, 64))
	c.header().Set("x-ms-throttle-scope", "Tenant_Application/ReadWrite/"+c.appID+"/"+c.tenant.id)
	c.header().Set("x-ms-throttle-information", bucket+"LimitExceeded")
	c.tooManyRequests()
	return false
}

func (s *Server) authenticate(c *call) bool {
	auth := c.r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || strings.TrimSpace(token) == "" {
		c.odataError(http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
		return false
	}
	claims, err := s.verify(token)
	if err != nil {
		c.odataError(http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. "+err.Error())
		return false
	}
	tid, _ := claims["tid"].(string)
	c.appID, _ = claims["appid"].(string)
	s.mu.Lock()
	c.tenant = s.tenants[strings.ToLower(tid)]
	s.mu.Unlock()
	if c.tenant == nil {
		c.odataError(http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. Invalid tenant.")
		return false
	}
	return true
}

func (s *Server) permitted(t *tenant, anyOf []string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range anyOf {
		if t.grants[p] {
			return true
		}
	}
	return false
}

func (s *Server) logRequest(r Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r)
	s.mu.Unlock()
	if s.opts.Logf != nil {
		s.opts.Logf("graphsim %s %s%s -> %d", r.Method, r.Version, r.Path, r.Status)
	}
}

// discardWriter absorbs the answer of a request whose connection is dropped.
type discardWriter struct{ header http.Header }

func (d discardWriter) Header() http.Header         { return d.header }
func (d discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d discardWriter) WriteHeader(int)             {}

func lastSegment(p string) string {
	p = strings.TrimSuffix(p, "/")
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[i+1:]
	}
	return p
}
