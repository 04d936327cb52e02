package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-project/berth/internal/daemon"
	"github.com/berth-project/berth/internal/errdefs"
	mobycontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

func (s *Server) containerRoutes() {
	m := s.mux
	m.HandleFunc("GET /containers/json", s.listContainers)
	m.HandleFunc("POST /containers/create", s.createContainer)
	m.HandleFunc("GET /containers/{id}/json", s.inspectContainer)
	m.HandleFunc("POST /containers/{id}/start", s.startContainer)
	m.HandleFunc("POST /containers/{id}/stop", s.stopContainer)
	m.HandleFunc("POST /containers/{id}/restart", s.restartContainer)
	m.HandleFunc("POST /containers/{id}/kill", s.killContainer)
	m.HandleFunc("POST /containers/{id}/wait", s.waitContainer)
	m.HandleFunc("POST /containers/{id}/attach", s.attachContainer)
	m.HandleFunc("POST /containers/{id}/resize", s.resizeContainer)
	m.HandleFunc("POST /containers/{id}/rename", s.renameContainer)
	m.HandleFunc("GET /containers/{id}/logs", s.containerLogs)
	m.HandleFunc("GET /containers/{id}/top", s.topContainer)
	m.HandleFunc("GET /containers/{id}/stats", s.statsContainer)
	m.HandleFunc("DELETE /containers/{id}", s.removeContainer)
	m.HandleFunc("POST /containers/prune", s.pruneContainers)
	m.HandleFunc("POST /containers/{id}/exec", s.createExec)
	m.HandleFunc("POST /exec/{id}/start", s.startExec)
	m.HandleFunc("POST /exec/{id}/resize", s.resizeExec)
	m.HandleFunc("GET /exec/{id}/json", s.inspectExec)
	s.archiveRoutes()
}

func boolParam(r *http.Request, name string) bool {
	v := r.URL.Query().Get(name)
	b, err := strconv.ParseBool(v)
	return err == nil && b || v == "yes"
}

// filters decodes Docker's filters query: {"name":{"box1":true}} or {"name":["box1"]}.
func filters(r *http.Request) (map[string][]string, error) {
	raw := r.URL.Query().Get("filters")
	out := map[string][]string{}
	if raw == "" {
		return out, nil
	}
	var asMap map[string]map[string]bool
	if err := json.Unmarshal([]byte(raw), &asMap); err == nil {
		for k, vs := range asMap {
			for v, ok := range vs {
				if ok {
					out[k] = append(out[k], v)
				}
			}
		}
		return out, nil
	}
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		return nil, errdefs.Invalidf("invalid filter: %v", err)
	}
	return out, nil
}

func (s *Server) listContainers(w http.ResponseWriter, r *http.Request) {
	f, err := filters(r)
	if err != nil {
		writeError(w, err)
		return
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	list, err := s.d.List(daemon.ListOptions{All: boolParam(r, "all"), Limit: limit, Filters: f})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

type createBody struct {
	mobycontainer.Config
	HostConfig       *mobycontainer.HostConfig
	NetworkingConfig *network.NetworkingConfig
}

func (s *Server) createContainer(w http.ResponseWriter, r *http.Request) {
	var body createBody
	if err := decodeBody(r, &body); err != nil {
		writeError(w, err)
		return
	}
	id, err := s.d.Create(r.Context(), daemon.CreateRequest{
		Name: r.URL.Query().Get("name"), Config: &body.Config, HostConfig: body.HostConfig,
		NetworkingConfig: body.NetworkingConfig,
	})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, mobycontainer.CreateResponse{ID: id, Warnings: []string{}})
}

func (s *Server) inspectContainer(w http.ResponseWriter, r *http.Request) {
	c, err := s.d.Inspect(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) startContainer(w http.ResponseWriter, r *http.Request) {
	if err := s.d.Start(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func timeoutParam(r *http.Request) *int {
	v := r.URL.Query().Get("t")
	if v == "" {
		v = r.URL.Query().Get("timeout")
	}
	if n, err := strconv.Atoi(v); err == nil {
		return &n
	}
	return nil
}

func (s *Server) stopContainer(w http.ResponseWriter, r *http.Request) {
	if err := s.d.Stop(r.Context(), r.PathValue("id"), r.URL.Query().Get("signal"), timeoutParam(r)); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) restartContainer(w http.ResponseWriter, r *http.Request) {
	if err := s.d.Restart(r.Context(), r.PathValue("id"), timeoutParam(r)); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) killContainer(w http.ResponseWriter, r *http.Request) {
	if err := s.d.Kill(r.Context(), r.PathValue("id"), r.URL.Query().Get("signal")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// waitContainer sends its header as soon as the wait is registered, so the
// client knows no exit can be missed, then the status when it comes.
func (s *Server) waitContainer(w http.ResponseWriter, r *http.Request) {
	waiter, err := s.d.Wait(r.PathValue("id"), r.URL.Query().Get("condition"))
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	code, err := waiter.Result(r.Context())
	resp := mobycontainer.WaitResponse{StatusCode: int64(code)}
	if err != nil {
		resp.Error = &mobycontainer.WaitExitError{Message: err.Error()}
	}
	json.NewEncoder(w).Encode(resp)
}

func (s *Server) removeContainer(w http.ResponseWriter, r *http.Request) {
	if err := s.d.Remove(r.Context(), r.PathValue("id"), daemon.RemoveOptions{Force: boolParam(r, "force")}); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) pruneContainers(w http.ResponseWriter, r *http.Request) {
	f, err := filters(r)
	if err != nil {
		writeError(w, err)
		return
	}
	labels := map[string]string{}
	for _, l := range f["label"] {
		k, v, _ := cutEq(l)
		labels[k] = v
	}
	ids, err := s.d.Prune(r.Context(), labels)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, mobycontainer.PruneReport{ContainersDeleted: ids})
}

func cutEq(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '=' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func (s *Server) renameContainer(w http.ResponseWriter, r *http.Request) {
	if err := s.d.Rename(r.PathValue("id"), r.URL.Query().Get("name")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) resizeContainer(w http.ResponseWriter, r *http.Request) {
	h, _ := strconv.Atoi(r.URL.Query().Get("h"))
	wd, _ := strconv.Atoi(r.URL.Query().Get("w"))
	if err := s.d.Resize(r.Context(), r.PathValue("id"), uint16(h), uint16(wd)); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) containerLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	opts := daemon.LogsOptions{
		Follow: boolParam(r, "follow"), Stdout: boolParam(r, "stdout"), Stderr: boolParam(r, "stderr"),
		Tail: q.Get("tail"), Since: unixParam(q.Get("since")), Until: unixParam(q.Get("until")),
	}
	if !opts.Stdout && !opts.Stderr {
		writeError(w, errdefs.Invalidf("Bad parameters: you must choose at least one stream"))
		return
	}
	tty, err := s.d.IsTTY(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	ct := "application/vnd.docker.multiplexed-stream"
	if tty {
		ct = "application/vnd.docker.raw-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	fw := &frameWriter{w: w, raw: tty}
	if f, ok := w.(http.Flusher); ok {
		fw.flush = f.Flush
		f.Flush()
	}
	timestamps := boolParam(r, "timestamps")
	s.d.Logs(r.Context(), r.PathValue("id"), opts, func(stream string, data []byte, at time.Time) error {
		if timestamps {
			data = append([]byte(at.Format(time.RFC3339Nano)+" "), data...)
		}
		return fw.write(streamByte(stream), data)
	})
}

// unixParam parses Docker's since/until: seconds with optional fraction.
func unixParam(v string) time.Time {
	if v == "" {
		return time.Time{}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t
		}
		return time.Time{}
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9))
}

func (s *Server) attachContainer(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	tty, err := s.d.IsTTY(id)
	if err != nil {
		writeError(w, err)
		return
	}
	conn, rw, err := hijack(w, r)
	if err != nil {
		return
	}
	defer conn.Close()
	opts := daemon.AttachOptions{
		Stdin: boolParam(r, "stdin"), Stdout: boolParam(r, "stdout"), Stderr: boolParam(r, "stderr"),
		Logs: boolParam(r, "logs"), Stream: boolParam(r, "stream"),
		DetachKeys: r.URL.Query().Get("detachKeys"),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fw := &frameWriter{w: conn, raw: tty}
	err = s.d.Attach(ctx, id, opts, rw.Reader, func(stream string, data []byte, _ time.Time) error {
		return fw.write(streamByte(stream), data)
	})
	if err != nil {
		s.log.Debug("attach ended", "container", id, "err", err)
	}
	closeWrite(conn)
}

func (s *Server) topContainer(w http.ResponseWriter, r *http.Request) {
	top, err := s.d.Top(r.PathValue("id"), r.URL.Query().Get("ps_args"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, top)
}

// statsContainer answers GET /containers/{id}/stats. Each sample carries the
// one before it (precpu_stats) so that clients can compute CPU percentages;
// stream=false waits for a second sample, as Docker does, unless one-shot.
func (s *Server) statsContainer(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	st, err := s.d.ContainerStats(id)
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	stream := q.Get("stream") == "" || boolParam(r, "stream")
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	if !stream {
		if !boolParam(r, "one-shot") {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
			prev := st
			if st, err = s.d.ContainerStats(id); err != nil {
				writeError(w, err)
				return
			}
			st.PreCPUStats, st.PreRead = prev.CPUStats, prev.Read
		}
		enc.Encode(st)
		return
	}
	for {
		enc.Encode(st)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(time.Second):
		}
		prev := st
		if st, err = s.d.ContainerStats(id); err != nil {
			return
		}
		st.PreCPUStats, st.PreRead = prev.CPUStats, prev.Read
	}
}
