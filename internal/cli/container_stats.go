package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

const defaultStatsFormat = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"

// statsRow is what stats templates see, fields in docker's JSON key order.
type statsRow struct {
	BlockIO   string
	CPUPerc   string
	Container string
	ID        string
	MemPerc   string
	MemUsage  string
	Name      string
	NetIO     string
	PIDs      string
}

func statsHeader() statsRow {
	return statsRow{
		BlockIO: "BLOCK I/O", CPUPerc: "CPU %", Container: "CONTAINER", ID: "CONTAINER ID",
		MemPerc: "MEM %", MemUsage: "MEM USAGE / LIMIT", Name: "NAME", NetIO: "NET I/O", PIDs: "PIDS",
	}
}

func newStatsRow(ref string, s container.StatsResponse) statsRow {
	mem := memoryUsage(s.MemoryStats)
	memPerc := 0.0
	if s.MemoryStats.Limit != 0 {
		memPerc = float64(mem) / float64(s.MemoryStats.Limit) * 100
	}
	var rx, tx uint64
	for _, n := range s.Networks {
		rx += n.RxBytes
		tx += n.TxBytes
	}
	var rd, wr uint64
	for _, e := range s.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(e.Op) {
		case "read":
			rd += e.Value
		case "write":
			wr += e.Value
		}
	}
	return statsRow{
		BlockIO:   humanSize(int64(rd)) + " / " + humanSize(int64(wr)),
		CPUPerc:   fmt.Sprintf("%.2f%%", cpuPercent(s)),
		Container: ref,
		ID:        shortID(s.ID),
		MemPerc:   fmt.Sprintf("%.2f%%", memPerc),
		MemUsage:  units.BytesSize(float64(mem)) + " / " + units.BytesSize(float64(s.MemoryStats.Limit)),
		Name:      strings.TrimPrefix(s.Name, "/"),
		NetIO:     humanSize(int64(rx)) + " / " + humanSize(int64(tx)),
		PIDs:      fmt.Sprintf("%d", s.PidsStats.Current),
	}
}

// memoryUsage excludes the page cache the way docker stats does.
func memoryUsage(m container.MemoryStats) uint64 {
	for _, key := range []string{"total_inactive_file", "inactive_file"} {
		if v, ok := m.Stats[key]; ok && v < m.Usage {
			return m.Usage - v
		}
	}
	return m.Usage
}

func cpuPercent(s container.StatsResponse) float64 {
	cpuDelta := float64(s.CPUStats.CPUUsage.TotalUsage) - float64(s.PreCPUStats.CPUUsage.TotalUsage)
	sysDelta := float64(s.CPUStats.SystemUsage) - float64(s.PreCPUStats.SystemUsage)
	cpus := float64(s.CPUStats.OnlineCPUs)
	if cpus == 0 {
		cpus = float64(len(s.CPUStats.CPUUsage.PercpuUsage))
	}
	if sysDelta <= 0 || cpuDelta <= 0 {
		return 0
	}
	return cpuDelta / sysDelta * cpus * 100
}

type statsOptions struct {
	all, noStream, noTrunc bool
	format                 string
}

func newStatsCommand(env *cliEnv) *cobra.Command {
	o := &statsOptions{}
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [CONTAINER...]",
		Short: "Display a live stream of container(s) resource usage statistics",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStats(cmd.Context(), env, o, args)
		},
	}
	cmd.Flags().BoolVarP(&o.all, "all", "a", false, "Show all containers (default shows just running)")
	cmd.Flags().BoolVar(&o.noStream, "no-stream", false, "Disable streaming stats and only pull the first result")
	cmd.Flags().BoolVar(&o.noTrunc, "no-trunc", false, "Do not truncate output")
	cmd.Flags().StringVar(&o.format, "format", "", "Format output using a custom template")
	return cmd
}

func runStats(ctx context.Context, env *cliEnv, o *statsOptions, args []string) error {
	api, err := env.client()
	if err != nil {
		return err
	}
	format := listFormat(o.format, "", defaultStatsFormat, false)
	_, isTerm := terminalFd(env.out)
	for {
		refs := args
		if len(refs) == 0 {
			if refs, err = listContainerIDs(ctx, api, o.all); err != nil {
				return err
			}
		}
		rows, err := collectStats(ctx, api, refs, o.noTrunc)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if !o.noStream && isTerm {
			buf.WriteString("\033[2J\033[H")
		}
		if err := writeList(&buf, format, statsHeader(), rows); err != nil {
			return err
		}
		if _, err := env.out.Write(buf.Bytes()); err != nil || o.noStream {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

func listContainerIDs(ctx context.Context, api *client.Client, all bool) ([]string, error) {
	res, err := api.ContainerList(ctx, client.ContainerListOptions{All: all})
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(res.Items))
	for _, c := range res.Items {
		ids = append(ids, c.ID)
	}
	return ids, nil
}

func collectStats(ctx context.Context, api *client.Client, refs []string, noTrunc bool) ([]statsRow, error) {
	rows := make([]statsRow, 0, len(refs))
	for _, ref := range refs {
		res, err := api.ContainerStats(ctx, ref, client.ContainerStatsOptions{IncludePreviousSample: true})
		if err != nil {
			return nil, err
		}
		var s container.StatsResponse
		err = json.NewDecoder(res.Body).Decode(&s)
		res.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("decoding stats of %s: %w", ref, err)
		}
		if s.ID == "" {
			s.ID = ref
		}
		row := newStatsRow(ref, s)
		if noTrunc {
			row.ID = s.ID
		}
		rows = append(rows, row)
	}
	return rows, nil
}
