package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/moby/moby/api/types/events"
)

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	f, err := filters(r)
	if err != nil {
		writeError(w, err)
		return
	}
	since, until := unixParam(r.URL.Query().Get("since")), unixParam(r.URL.Query().Get("until"))
	past, live, cancel := s.d.Events()
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	send := func(m events.Message) {
		if matchEvent(m, f) {
			enc.Encode(m)
			if flusher != nil {
				flusher.Flush()
			}
		}
	}
	if flusher != nil {
		flusher.Flush()
	}
	if !since.IsZero() {
		for _, m := range past {
			t := time.Unix(0, m.TimeNano)
			if !t.Before(since) && (until.IsZero() || t.Before(until)) {
				send(m)
			}
		}
	}
	var deadline <-chan time.Time
	if !until.IsZero() {
		d := time.Until(until)
		if d <= 0 {
			return
		}
		deadline = time.After(d)
	}
	for {
		select {
		case m := <-live:
			send(m)
		case <-deadline:
			return
		case <-r.Context().Done():
			return
		}
	}
}

func matchEvent(m events.Message, f map[string][]string) bool {
	check := func(key string, ok func(string) bool) bool {
		if len(f[key]) == 0 {
			return true
		}
		for _, v := range f[key] {
			if ok(v) {
				return true
			}
		}
		return false
	}
	return check("type", func(v string) bool { return string(m.Type) == v }) &&
		check("event", func(v string) bool { return string(m.Action) == v }) &&
		check("container", func(v string) bool {
			return m.Type == events.ContainerEventType && (m.Actor.ID == v || m.Actor.Attributes["name"] == v || (len(v) >= 4 && len(m.Actor.ID) >= len(v) && m.Actor.ID[:len(v)] == v))
		})
}
