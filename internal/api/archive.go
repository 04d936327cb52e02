package api

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"

	"github.com/berth-project/berth/internal/daemon"
	mobycontainer "github.com/moby/moby/api/types/container"
)

// archiveRoutes serve `docker cp`: HEAD stats a path in a container, GET
// tars it out, PUT extracts a tar into a directory.
func (s *Server) archiveRoutes() {
	s.mux.HandleFunc("HEAD /containers/{id}/archive", s.statArchive)
	s.mux.HandleFunc("GET /containers/{id}/archive", s.getArchive)
	s.mux.HandleFunc("PUT /containers/{id}/archive", s.putArchive)
}

// pathStatHeader carries the stat as Docker sends it: base64 of its JSON.
const pathStatHeader = "X-Docker-Container-Path-Stat"

func setPathStat(w http.ResponseWriter, st mobycontainer.PathStat) {
	data, _ := json.Marshal(st)
	w.Header().Set(pathStatHeader, base64.StdEncoding.EncodeToString(data))
}

func (s *Server) statArchive(w http.ResponseWriter, r *http.Request) {
	st, err := s.d.ArchiveStat(r.PathValue("id"), r.URL.Query().Get("path"))
	if err != nil {
		w.WriteHeader(statusOf(err))
		return
	}
	setPathStat(w, st)
	w.WriteHeader(http.StatusOK)
}

func (s *Server) getArchive(w http.ResponseWriter, r *http.Request) {
	started := false
	err := s.d.ArchiveGet(r.PathValue("id"), r.URL.Query().Get("path"), func(st mobycontainer.PathStat) io.Writer {
		setPathStat(w, st)
		w.Header().Set("Content-Type", "application/x-tar")
		w.WriteHeader(http.StatusOK)
		started = true
		return w
	})
	if err != nil && !started {
		writeError(w, err)
	} else if err != nil {
		s.log.Debug("archive ended early", "container", r.PathValue("id"), "err", err)
	}
}

func (s *Server) putArchive(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	opts := daemon.ArchivePutOptions{
		NoOverwriteDirNonDir: boolParam(r, "noOverwriteDirNonDir"),
		CopyUIDGID:           boolParam(r, "copyUIDGID"),
	}
	if err := s.d.ArchivePut(r.PathValue("id"), q.Get("path"), r.Body, opts); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}
