package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
)

// MinTokenLength refuses tokens short enough to guess.
const MinTokenLength = 32

// Bearer lets a request through only with `Authorization: Bearer <token>`.
// The comparison is constant-time over the tokens' SHA-256 digests, so
// neither the token's bytes nor its length leak through timing. Every other
// request gets 401 and nothing else happens.
func Bearer(token string, next http.Handler) (http.Handler, error) {
	token = strings.TrimSpace(token)
	if len(token) < MinTokenLength {
		return nil, errors.New("the intake token must be at least 32 characters (e.g. `openssl rand -hex 32`)")
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ctsync"`)
			write(w, http.StatusUnauthorized, Problem{Error: "missing or wrong bearer token"})
			return
		}
		next.ServeHTTP(w, r)
	}), nil
}
