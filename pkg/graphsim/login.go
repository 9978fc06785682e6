package graphsim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// tokenLifetime matches Entra's usual app token lifetime.
const tokenLifetime = time.Hour

// graphAudiences are the resources whose tokens the Graph side accepts: the
// emulator's own URL (CTSYNC_GRAPH_ENDPOINT pointing here) and the national
// clouds' Graph hosts, so any cloud setting can be pointed at an emulator.
var graphAudiences = []string{
	"https://graph.microsoft.com", "https://graph.microsoft.us", "https://dod-graph.microsoft.us",
	"https://microsoftgraph.chinacloudapi.cn", "00000003-0000-0000-c000-000000000000",
}

// openIDConfiguration answers what MSAL reads before asking for a token; the
// issuer's scheme and host must equal the authority's.
func (s *Server) openIDConfiguration(w http.ResponseWriter, r *http.Request) {
	tid := strings.ToLower(r.PathValue("tenant"))
	s.mu.Lock()
	_, ok := s.tenants[tid]
	s.mu.Unlock()
	if !ok {
		s.loginError(w, r, http.StatusBadRequest, "invalid_tenant", 90002,
			fmt.Sprintf("AADSTS90002: Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tid))
		return
	}
	base := s.URL + "/" + tid
	s.logRequest(Request{Time: s.now(), Method: r.Method, Path: r.URL.Path, Tenant: tid, Status: http.StatusOK})
	writePlainJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"issuer":                                base + "/v2.0",
		"jwks_uri":                              s.URL + "/" + tid + "/discovery/v2.0/keys",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"tenant_region_scope":                   "EU",
		"cloud_instance_name":                   "microsoftonline.com",
	})
}

// token implements the client_credentials grant with a client secret or a
// client assertion (certificate or federated workload identity token).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	tid := strings.ToLower(r.PathValue("tenant"))
	status, credential := http.StatusOK, ""
	defer func() {
		s.logRequest(Request{Time: s.now(), Method: r.Method, Path: r.URL.Path, Tenant: tid, Status: status, Credential: credential})
	}()
	fail := func(st int, code string, aadsts int, msg string) {
		status = st
		s.loginError(w, r, st, code, aadsts, msg)
	}
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "invalid_request", 900144, "AADSTS900144: The request body must contain the following parameter: 'grant_type'.")
		return
	}
	s.mu.Lock()
	t, ok := s.tenants[tid]
	consented := ok && t.consented
	s.mu.Unlock()
	if !ok {
		fail(http.StatusBadRequest, "invalid_tenant", 90002, fmt.Sprintf("AADSTS90002: Tenant '%s' not found.", tid))
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		fail(http.StatusBadRequest, "unsupported_grant_type", 70003, fmt.Sprintf("AADSTS70003: The app requested an unsupported grant type '%s'.", gt))
		return
	}
	clientID := r.PostForm.Get("client_id")
	if !strings.EqualFold(clientID, s.opts.ClientID) || !consented {
		fail(http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("AADSTS700016: Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", clientID, t.displayName))
		return
	}
	switch {
	case r.PostForm.Get("client_secret") != "":
		credential = "secret"
		if !hmac.Equal([]byte(r.PostForm.Get("client_secret")), []byte(s.opts.ClientSecret)) {
			fail(http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf("AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID))
			return
		}
	case r.PostForm.Get("client_assertion") != "":
		credential = "assertion"
		if r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			fail(http.StatusBadRequest, "invalid_request", 50027, "AADSTS50027: Invalid client_assertion_type.")
			return
		}
		if err := checkAssertion(r.PostForm.Get("client_assertion"), s.now()); err != nil {
			fail(http.StatusUnauthorized, "invalid_client", 50027, "AADSTS50027: JWT token is invalid or malformed: "+err.Error())
			return
		}
	default:
		fail(http.StatusUnauthorized, "invalid_client", 7000218, "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}
	scope := r.PostForm.Get("scope")
	resource, ok := strings.CutSuffix(strings.Fields(scope + " ")[0], "/.default")
	if !ok || resource == "" {
		fail(http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf("AADSTS1002012: The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope))
		return
	}
	now := s.now()
	claims := map[string]any{
		"aud": resource, "iss": "https://sts.windows.net/" + tid + "/", "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(tokenLifetime).Unix(), "appid": s.opts.ClientID, "azp": s.opts.ClientID, "tid": tid,
		"oid": newID(), "idtyp": "app", "ver": "1.0", "sub": s.opts.ClientID,
	}
	writePlainJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": int(tokenLifetime.Seconds()) - 1, "ext_expires_in": int(tokenLifetime.Seconds()) - 1,
		"access_token": s.sign(claims),
	})
}

func (s *Server) loginError(w http.ResponseWriter, r *http.Request, status int, code string, aadsts int, msg string) {
	writePlainJSON(w, status, map[string]any{
		"error": code, "error_description": msg + "\r\nTrace ID: " + newID() + "\r\nCorrelation ID: " + newID() + "\r\nTimestamp: " + s.now().Format("2006-01-02 15:04:05Z"),
		"error_codes": []int{aadsts}, "timestamp": s.now().Format("2006-01-02 15:04:05Z"), "trace_id": newID(), "correlation_id": newID(),
	})
}

func writePlainJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

var b64 = base64.RawURLEncoding

func (s *Server) sign(claims map[string]any) string {
	header := b64.EncodeToString([]byte(`{"typ":"JWT","alg":"HS256"}`))
	payload, _ := json.Marshal(claims)
	signing := header + "." + b64.EncodeToString(payload)
	mac := hmac.New(sha256.New, s.signKey)
	mac.Write([]byte(signing))
	return signing + "." + b64.EncodeToString(mac.Sum(nil))
}

// verify checks an access token the emulator issued and returns its claims.
func (s *Server) verify(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("IDX14100: JWT is not well formed")
	}
	mac := hmac.New(sha256.New, s.signKey)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := b64.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return nil, errors.New("Invalid signature")
	}
	raw, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, errors.New("IDX14100: JWT is not well formed")
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		return nil, errors.New("IDX14100: JWT is not well formed")
	}
	if exp, _ := claims["exp"].(float64); int64(exp) < s.now().Unix() {
		return nil, errors.New("Lifetime validation failed, the token is expired")
	}
	aud, _ := claims["aud"].(string)
	if !strings.EqualFold(strings.TrimSuffix(aud, "/"), s.URL) && !contains(graphAudiences, strings.TrimSuffix(aud, "/")) {
		return nil, errors.New("Invalid audience")
	}
	return claims, nil
}

// checkAssertion accepts any well-formed, unexpired JWT: the emulator cannot
// verify a certificate or a federated issuer it does not know, but it does
// catch an assertion that is missing, garbled or stale.
func checkAssertion(assertion string, now time.Time) error {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return errors.New("not a JWT")
	}
	raw, err := b64.DecodeString(parts[1])
	if err != nil {
		return errors.New("payload is not base64url")
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		return errors.New("payload is not JSON")
	}
	if exp, ok := claims["exp"].(float64); ok && int64(exp) < now.Unix() {
		return errors.New("assertion expired")
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// managedIdentityToken is an App Service managed identity endpoint
// (IDENTITY_ENDPOINT): it hands out a token a federated credential accepts
// as a client assertion.
func (s *Server) managedIdentityToken(w http.ResponseWriter, r *http.Request) {
	status := http.StatusOK
	defer func() { s.logRequest(Request{Time: s.now(), Method: r.Method, Path: r.URL.Path, Status: status}) }()
	q := r.URL.Query()
	if r.Header.Get("X-IDENTITY-HEADER") != s.opts.ManagedIdentityHeader {
		status = http.StatusUnauthorized
		writePlainJSON(w, status, map[string]any{"statusCode": 401, "message": "Unauthorized: the X-IDENTITY-HEADER is missing or wrong."})
		return
	}
	if q.Get("api-version") == "" || q.Get("resource") == "" {
		status = http.StatusBadRequest
		writePlainJSON(w, status, map[string]any{"statusCode": 400, "message": "api-version and resource are required."})
		return
	}
	now := s.now()
	exp := now.Add(tokenLifetime)
	tok := s.sign(map[string]any{"aud": q.Get("resource"), "iss": "https://managed-identity.emulator/", "sub": "managed-identity",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": exp.Unix()})
	writePlainJSON(w, status, map[string]any{"access_token": tok, "expires_on": fmt.Sprint(exp.Unix()), "resource": q.Get("resource"),
		"token_type": "Bearer", "client_id": q.Get("client_id")})
}
