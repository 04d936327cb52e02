package api

import (
	"encoding/json"
	"net/http"

	"github.com/berth-project/berth/internal/errdefs"
)

// statusOf maps an error class to Docker's HTTP status code: the one place
// where that mapping lives.
func statusOf(err error) int {
	switch errdefs.ClassOf(err) {
	case errdefs.NotFound:
		return http.StatusNotFound
	case errdefs.Conflict:
		return http.StatusConflict
	case errdefs.InvalidParameter:
		return http.StatusBadRequest
	case errdefs.Forbidden:
		return http.StatusForbidden
	case errdefs.NotModified:
		return http.StatusNotModified
	case errdefs.Unavailable:
		return http.StatusServiceUnavailable
	case errdefs.NotImplemented:
		return http.StatusNotImplemented
	}
	return http.StatusInternalServerError
}

// writeError answers with Docker's error body {"message": "..."}.
func writeError(w http.ResponseWriter, err error) {
	code := statusOf(err)
	if code == http.StatusNotModified {
		w.WriteHeader(code)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"message": err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func decodeBody(r *http.Request, v any) error {
	if r.Body == nil || r.ContentLength == 0 {
		return nil
	}
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return errdefs.Invalidf("invalid JSON in request body: %v", err)
	}
	return nil
}
