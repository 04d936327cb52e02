package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/docker/go-units"
	"github.com/moby/moby/client"
)

const (
	tableKey = "table"
	jsonKey  = "json"
)

// templateFuncs are the helpers docker exposes to --format templates.
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"json": func(v any) (string, error) {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(v); err != nil {
				return "", err
			}
			return strings.TrimSpace(buf.String()), nil
		},
		"split":    strings.Split,
		"join":     strings.Join,
		"title":    titleCase,
		"lower":    strings.ToLower,
		"upper":    strings.ToUpper,
		"pad":      func(s string, l, r int) string { return strings.Repeat(" ", l) + s + strings.Repeat(" ", r) },
		"truncate": truncateRunes,
		"println":  func(v ...any) string { return fmt.Sprintln(v...) },
	}
}

func titleCase(s string) string {
	words := strings.Fields(s)
	for i, w := range words {
		r, n := utf8.DecodeRuneInString(w)
		words[i] = strings.ToUpper(string(r)) + w[n:]
	}
	return strings.Join(words, " ")
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if n < 0 || len(r) <= n {
		return s
	}
	return string(r[:n])
}

// parseTemplate parses a user template, turning the shell-friendly \t and \n
// escapes into the real characters as docker does.
func parseTemplate(format string) (*template.Template, error) {
	format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)
	tmpl, err := template.New("").Funcs(templateFuncs()).Parse(format)
	if err != nil {
		return nil, fmt.Errorf("template parsing error: %w", err)
	}
	return tmpl, nil
}

// listFormat resolves the effective format of a list command.
func listFormat(format, quietFormat, defaultFormat string, quiet bool) string {
	switch {
	case quiet && (format == "" || strings.HasPrefix(format, tableKey)):
		return quietFormat
	case format == "":
		return defaultFormat
	case format == jsonKey:
		return "{{json .}}"
	}
	return format
}

// writeList renders rows through format. A "table" format gets a header line
// built by running the same template on header, and is aligned like docker.
func writeList[T any](w io.Writer, format string, header T, rows []T) error {
	isTable := strings.HasPrefix(format, tableKey)
	if isTable {
		format = strings.TrimLeft(format[len(tableKey):], " ")
	}
	tmpl, err := parseTemplate(format)
	if err != nil {
		return err
	}
	out := w
	var tw *tabwriter.Writer
	if isTable {
		tw = tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
		out = tw
		if err := execLine(out, tmpl, header); err != nil {
			return err
		}
	}
	for _, row := range rows {
		if err := execLine(out, tmpl, row); err != nil {
			return err
		}
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

func execLine(w io.Writer, tmpl *template.Template, data any) error {
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, data); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// ellipsis shortens s to at most n runes, marking the cut like docker.
func ellipsis(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return string(r[:n])
	}
	return string(r[:n-1]) + "…"
}

// shortID is docker's TruncateID: drop any algorithm prefix, keep 12 chars.
func shortID(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 {
		id = id[i+1:]
	}
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

func humanSize(n int64) string {
	return units.HumanSizeWithPrecision(float64(n), 3)
}

// reclaimedSize formats prune totals with docker's precision.
func reclaimedSize(n uint64) string {
	return units.HumanSize(float64(n))
}

func sinceString(t time.Time) string {
	return units.HumanDuration(time.Now().UTC().Sub(t)) + " ago"
}

// parseFilters turns repeated key=value flags into API filters.
func parseFilters(values []string) (client.Filters, error) {
	f := client.Filters{}
	for _, v := range values {
		k, val, ok := strings.Cut(v, "=")
		if !ok {
			return nil, fmt.Errorf("bad format of filter (expected name=value)")
		}
		f.Add(strings.ToLower(strings.TrimSpace(k)), val)
	}
	return f, nil
}

// joinSortedMap renders a label map as k=v pairs in key order.
func joinSortedMap(m map[string]string) string {
	keys := sortedKeys(m)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

// confirm asks the docker-style y/N question on the command's streams.
func confirm(env *cliEnv, message string) bool {
	fmt.Fprintf(env.out, "%s\nAre you sure you want to continue? [y/N] ", message)
	if env.in == nil {
		fmt.Fprintln(env.out)
		return false
	}
	var answer string
	_, _ = fmt.Fscanln(env.in, &answer)
	answer = strings.ToLower(strings.TrimSpace(answer))
	return answer == "y" || answer == "yes"
}
