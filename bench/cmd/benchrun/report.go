package main

import (
	"fmt"
	"html"
	"os/exec"
	"strings"
	"time"
)

type report struct {
	title, date, host, mode string
	elapsed                 time.Duration
	metrics                 []metric
	res                     *results
	engines                 []string
	unavailable             map[string]string
	info                    [][2]string
	sizes                   sizes
	chart                   string // file name of the SVG beside the Markdown
}

func runOut(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func (r *report) has(eng string) bool {
	for _, e := range r.engines {
		if e == eng {
			return true
		}
	}
	return false
}

// cell is what the table shows for one engine and metric.
func (r *report) cell(m metric, eng string) string {
	if !r.has(eng) {
		return "—"
	}
	if n := r.res.notes[m.key][eng]; n != "" {
		return n
	}
	if v, ok := r.res.get(m.key, eng); ok {
		return fmt.Sprintf("%.*f", m.prec, v)
	}
	return "—"
}

func (r *report) ratio(m metric) string {
	b, okB := r.res.get(m.key, "berth")
	d, okD := r.res.get(m.key, "docker")
	if !okB || !okD || d == 0 || r.res.notes[m.key]["berth"] != "" || r.res.notes[m.key]["docker"] != "" {
		return "—"
	}
	return fmt.Sprintf("%.2fx", b/d)
}

func (r *report) goal(m metric) string {
	if m.goal == "" {
		return ""
	}
	b, okB := r.res.get(m.key, "berth")
	if !okB || r.res.notes[m.key]["berth"] != "" {
		return m.goal + " —"
	}
	d, okD := r.res.get(m.key, "docker")
	okD = okD && r.has("docker") && r.res.notes[m.key]["docker"] == ""
	ok, known := m.pass(b, d, okD)
	switch {
	case !known:
		return m.goal + " (needs Docker)"
	case ok:
		return m.goal + " ✅"
	default:
		return m.goal + " ❌"
	}
}

func (r *report) rows() [][]string {
	version := func(eng string) string {
		if why := r.unavailable[eng]; why != "" && !r.has(eng) {
			return eng + ": unavailable (" + why + ")"
		}
		for _, kv := range r.info {
			if kv[0] == eng+" version" {
				v, _, _ := strings.Cut(kv[1], " ")
				return v
			}
		}
		return "?"
	}
	rows := [][]string{{"metric", "berth", "docker", "berth/docker", "goal"},
		{"engine version", version("berth"), version("docker"), "", ""}}
	for _, m := range r.metrics {
		rows = append(rows, []string{m.label, r.cell(m, "berth"), r.cell(m, "docker"), r.ratio(m), r.goal(m)})
	}
	return rows
}

// table is the Markdown table, also printed at the end of a run.
func (r *report) table() string {
	var sb strings.Builder
	for i, row := range r.rows() {
		sb.WriteString("| " + strings.Join(escapeCells(row), " | ") + " |\n")
		if i == 0 {
			sb.WriteString("|---|---:|---:|---:|---|\n")
		}
	}
	return sb.String()
}

func escapeCells(row []string) []string {
	out := make([]string, len(row))
	for i, c := range row {
		out[i] = strings.ReplaceAll(c, "|", `\|`)
	}
	return out
}

func (r *report) markdown() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "# %s — %s\n\n", r.title, r.date)
	fmt.Fprintf(&sb, "Host `%s`, %s run, %v. Made by `make bench` (bench/run.sh).\n\n", r.host, r.mode, r.elapsed)
	sb.WriteString(r.table())
	sb.WriteString("\nGoals are judged on berth's value. Times are medians of samples taken with the engines alternating " +
		"(A/B, the first engine switching every round), each through the same docker CLI with DOCKER_HOST switched; " +
		"container removal is outside every start timing. The network's share of a start is the median of " +
		"differences between a run -d and a run -d --network none made back to back. The scaling series (networks, sequential starts, memory) " +
		"run one engine at a time, so that each engine's growth is measured against its own objects only. " +
		"Throughput: netkit tput-client, " +
		fmt.Sprintf("%v per run, median of %d run(s) container→container (client in a container) and of %d rounds host→container (client on the host); ",
			r.sizes.tputDur, r.sizes.tputRuns, r.sizes.h2cRuns) +
		"ratios to direct are medians of per-round ratios. " +
		"DNS: netkit dnsbench from a container on a user-defined network, resolver from its /etc/resolv.conf, " +
		"one UDP socket, queries one after another. Memory: VmRSS; Docker's daemon RSS is dockerd + containerd, " +
		"its shim is containerd-shim-runc-v2. Published ports with many containers are measured on berth only " +
		"(Docker's userland proxy would start a process per port).\n\n")
	sb.WriteString("![chart](" + r.chart + ")\n\n")
	sb.WriteString("## Machine\n\n")
	for _, kv := range r.info {
		fmt.Fprintf(&sb, "- %s: %s\n", kv[0], kv[1])
	}
	for _, eng := range []string{"berth", "docker"} {
		if why := r.unavailable[eng]; why != "" && !r.has(eng) {
			fmt.Fprintf(&sb, "- %s: unavailable (%s)\n", eng, why)
		}
	}
	if len(r.res.failures) > 0 {
		sb.WriteString("\n## Failures\n\n")
		for _, f := range r.res.failures {
			fmt.Fprintf(&sb, "- %s\n", strings.ReplaceAll(f, "\n", " "))
		}
	}
	if len(r.res.skipped) > 0 {
		sb.WriteString("\n## Skipped\n\n")
		for _, s := range r.res.skipped {
			fmt.Fprintf(&sb, "- %s\n", s)
		}
	}
	return sb.String()
}

// Chart geometry, in SVG user units.
const (
	chartW    = 1000
	labelW    = 400
	barX      = labelW + 10
	barMax    = 440
	barH      = 12
	rowH      = 44
	headerH   = 70
	berthFill = "#2b6cb0"
	dockFill  = "#dd6b20"
)

// svg draws one row per metric with a value: a bar per engine, scaled to
// the larger of the two in that row, labelled with its value.
func (r *report) svg() string {
	type bar struct {
		eng  string
		v    float64
		text string
	}
	type row struct {
		m    metric
		bars []bar
	}
	var rows []row
	for _, m := range r.metrics {
		var bars []bar
		for _, eng := range []string{"berth", "docker"} {
			if !r.has(eng) {
				continue
			}
			if v, ok := r.res.get(m.key, eng); ok && r.res.notes[m.key][eng] == "" {
				bars = append(bars, bar{eng, v, strings.TrimSpace(fmt.Sprintf("%.*f %s", m.prec, v, m.unit))})
			} else if n := r.res.notes[m.key][eng]; n != "" {
				bars = append(bars, bar{eng, 0, n})
			}
		}
		if len(bars) > 0 {
			rows = append(rows, row{m, bars})
		}
	}
	h := headerH + len(rows)*rowH + 20
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">`+"\n", chartW, h, chartW, h)
	fmt.Fprintf(&sb, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", chartW, h)
	fmt.Fprintf(&sb, `<text x="10" y="24" font-size="16" font-weight="bold">%s</text>`+"\n", esc(r.title+" — "+r.date+" — "+r.host))
	fmt.Fprintf(&sb, `<text x="10" y="44" fill="#555">%s</text>`+"\n", esc("bars scaled per row to the larger value; "+r.mode))
	legend := func(x int, fill, name string) {
		fmt.Fprintf(&sb, `<rect x="%d" y="52" width="12" height="12" fill="%s"/><text x="%d" y="62">%s</text>`+"\n", x, fill, x+16, esc(name))
	}
	x := barX
	for _, l := range []struct{ eng, fill, name string }{{"berth", berthFill, "berth"}, {"docker", dockFill, "Docker Engine"}} {
		if r.has(l.eng) {
			legend(x, l.fill, l.name)
			x += 130
		} else {
			text := l.eng + ": unavailable (" + r.unavailable[l.eng] + ")"
			if len(text) > 90 {
				text = text[:90] + "…"
			}
			fmt.Fprintf(&sb, `<text x="%d" y="62" fill="#555">%s</text>`+"\n", x, esc(text))
			x += 200
		}
	}
	for i, rw := range rows {
		y := headerH + i*rowH
		if i%2 == 1 {
			fmt.Fprintf(&sb, `<rect x="0" y="%d" width="%d" height="%d" fill="#f4f6f8"/>`+"\n", y, chartW, rowH)
		}
		size := 12
		if n := len([]rune(rw.m.label)); n > 60 {
			// Long labels shrink rather than run into the bars.
			size = max(8, 12*60/n)
		}
		fmt.Fprintf(&sb, `<text x="10" y="%d" font-size="%d">%s</text>`+"\n", y+18, size, esc(rw.m.label))
		hint := "higher is better"
		if rw.m.lower {
			hint = "lower is better"
		}
		if rw.m.goal != "" {
			hint += "; goal " + rw.m.goal
		}
		fmt.Fprintf(&sb, `<text x="10" y="%d" fill="#666" font-size="10">%s</text>`+"\n", y+33, esc(hint))
		top := 0.0
		for _, b := range rw.bars {
			top = max(top, b.v)
		}
		for j, b := range rw.bars {
			by := y + 7 + j*(barH+4)
			w := 0.0
			if top > 0 {
				w = b.v / top * barMax
			}
			if b.v > 0 && w < 1 {
				w = 1
			}
			fill := berthFill
			if b.eng == "docker" {
				fill = dockFill
			}
			fmt.Fprintf(&sb, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s</title></rect>`+"\n", barX, by, w, barH, fill, esc(b.eng+": "+b.text))
			fmt.Fprintf(&sb, `<text x="%.1f" y="%d" font-size="11">%s</text>`+"\n", float64(barX)+w+4, by+10, esc(b.text))
		}
	}
	sb.WriteString("</svg>\n")
	return sb.String()
}

func esc(s string) string { return html.EscapeString(s) }
