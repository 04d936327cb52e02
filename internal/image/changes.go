package image

import (
	"encoding/json"
	"path"
	"strconv"
	"strings"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

// ParseChanges applies Dockerfile-style instructions, as accepted by
// `docker import --change` and `docker commit --change`, to a copy of base.
// Supported: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER,
// VOLUME, WORKDIR.
func ParseChanges(base dockerspec.DockerOCIImageConfig, changes []string) (dockerspec.DockerOCIImageConfig, error) {
	cfg := cloneConfig(base)
	for _, change := range changes {
		change = strings.TrimSpace(change)
		if change == "" {
			continue
		}
		instr, rest, _ := strings.Cut(change, " ")
		rest = strings.TrimSpace(rest)
		if err := applyChange(&cfg, strings.ToUpper(instr), rest); err != nil {
			return base, err
		}
	}
	return cfg, nil
}

func applyChange(cfg *dockerspec.DockerOCIImageConfig, instr, rest string) error {
	switch instr {
	case "CMD":
		cfg.Cmd = commandForm(rest)
	case "ENTRYPOINT":
		cfg.Entrypoint = commandForm(rest)
	case "ENV":
		return applyEnv(cfg, rest)
	case "LABEL":
		return applyLabel(cfg, rest)
	case "EXPOSE":
		return applyExpose(cfg, rest)
	case "VOLUME":
		return applyVolume(cfg, rest)
	case "WORKDIR":
		if rest == "" {
			return invalidf("WORKDIR requires exactly one argument")
		}
		if !path.IsAbs(rest) {
			rest = path.Join("/", cfg.WorkingDir, rest)
		}
		cfg.WorkingDir = path.Clean(rest)
	case "USER":
		if rest == "" {
			return invalidf("USER requires exactly one argument")
		}
		cfg.User = rest
	case "STOPSIGNAL":
		if rest == "" {
			return invalidf("STOPSIGNAL requires exactly one argument")
		}
		cfg.StopSignal = rest
	case "ONBUILD":
		if rest == "" {
			return invalidf("ONBUILD requires at least one argument")
		}
		cfg.OnBuild = append(cfg.OnBuild, rest)
	default:
		return invalidf("%s is not a valid change command", instr)
	}
	return nil
}

// commandForm accepts the JSON exec form and otherwise wraps the text in
// /bin/sh -c, as Dockerfile shell form does.
func commandForm(rest string) []string {
	var argv []string
	if strings.HasPrefix(rest, "[") && json.Unmarshal([]byte(rest), &argv) == nil {
		return argv
	}
	if rest == "" {
		return nil
	}
	return []string{"/bin/sh", "-c", rest}
}

// keyValues parses "k=v k2='v 2'" or the legacy single "k v" form.
func keyValues(instr, rest string) ([][2]string, error) {
	words, err := shellWords(rest)
	if err != nil {
		return nil, invalidf("%s: %w", instr, err)
	}
	if len(words) == 0 {
		return nil, invalidf("%s requires at least one argument", instr)
	}
	if !strings.Contains(words[0], "=") {
		if len(words) < 2 {
			return nil, invalidf("%s %s must have two arguments", instr, words[0])
		}
		key, value, _ := strings.Cut(rest, " ")
		// Legacy form: everything after the key, verbatim, is the value.
		return [][2]string{{key, strings.TrimSpace(value)}}, nil
	}
	out := make([][2]string, 0, len(words))
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, invalidf("%s names can not be blank and need a value: %q", instr, w)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

func applyEnv(cfg *dockerspec.DockerOCIImageConfig, rest string) error {
	kvs, err := keyValues("ENV", rest)
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		entry := kv[0] + "=" + kv[1]
		replaced := false
		for i, e := range cfg.Env {
			if k, _, _ := strings.Cut(e, "="); k == kv[0] {
				cfg.Env[i], replaced = entry, true
			}
		}
		if !replaced {
			cfg.Env = append(cfg.Env, entry)
		}
	}
	return nil
}

func applyLabel(cfg *dockerspec.DockerOCIImageConfig, rest string) error {
	kvs, err := keyValues("LABEL", rest)
	if err != nil {
		return err
	}
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	for _, kv := range kvs {
		cfg.Labels[kv[0]] = kv[1]
	}
	return nil
}

func applyExpose(cfg *dockerspec.DockerOCIImageConfig, rest string) error {
	words := strings.Fields(rest)
	if len(words) == 0 {
		return invalidf("EXPOSE requires at least one argument")
	}
	if cfg.ExposedPorts == nil {
		cfg.ExposedPorts = map[string]struct{}{}
	}
	for _, w := range words {
		ports, err := parsePortSpec(w)
		if err != nil {
			return err
		}
		for _, p := range ports {
			cfg.ExposedPorts[p] = struct{}{}
		}
	}
	return nil
}

// parsePortSpec expands "80", "53/udp" or "8000-8002/tcp" into "port/proto" keys.
func parsePortSpec(spec string) ([]string, error) {
	rng, proto, _ := strings.Cut(strings.ToLower(spec), "/")
	switch proto {
	case "":
		proto = "tcp"
	case "tcp", "udp", "sctp":
	default:
		return nil, invalidf("invalid proto %q in EXPOSE %s", proto, spec)
	}
	lo, hi, isRange := strings.Cut(rng, "-")
	if !isRange {
		hi = lo
	}
	start, err1 := strconv.ParseUint(lo, 10, 16)
	end, err2 := strconv.ParseUint(hi, 10, 16)
	if err1 != nil || err2 != nil || start == 0 || end < start {
		return nil, invalidf("invalid port %q in EXPOSE", spec)
	}
	out := make([]string, 0, end-start+1)
	for p := start; p <= end; p++ {
		out = append(out, strconv.FormatUint(p, 10)+"/"+proto)
	}
	return out, nil
}

func applyVolume(cfg *dockerspec.DockerOCIImageConfig, rest string) error {
	var vols []string
	if strings.HasPrefix(rest, "[") {
		if err := json.Unmarshal([]byte(rest), &vols); err != nil {
			return invalidf("VOLUME: invalid JSON array %q: %w", rest, err)
		}
	} else {
		vols = strings.Fields(rest)
	}
	if len(vols) == 0 {
		return invalidf("VOLUME requires at least one argument")
	}
	if cfg.Volumes == nil {
		cfg.Volumes = map[string]struct{}{}
	}
	for _, v := range vols {
		if v = strings.TrimSpace(v); v == "" {
			return invalidf("VOLUME specified can not be an empty string")
		}
		cfg.Volumes[v] = struct{}{}
	}
	return nil
}

// shellWords splits s on unquoted whitespace, honouring single quotes,
// double quotes and backslash escapes the way Dockerfile ENV/LABEL do.
func shellWords(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		inTok bool
		quote rune
	)
	runes := []rune(s)
	for i := 0; i < len(runes); i++ {
		c := runes[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteRune(c)
			}
		case c == '\\' && i+1 < len(runes) && (quote == 0 || strings.ContainsRune(`"\$`, runes[i+1])):
			i++
			cur.WriteRune(runes[i])
			inTok = true
		case quote == '"':
			if c == '"' {
				quote = 0
			} else {
				cur.WriteRune(c)
			}
		case c == '\'' || c == '"':
			quote, inTok = c, true
		case c == ' ' || c == '\t' || c == '\n':
			if inTok {
				words = append(words, cur.String())
				cur.Reset()
				inTok = false
			}
		default:
			cur.WriteRune(c)
			inTok = true
		}
	}
	if quote != 0 {
		return nil, invalidf("unterminated quote in %q", s)
	}
	if inTok {
		words = append(words, cur.String())
	}
	return words, nil
}

// cloneConfig deep-copies a config so ParseChanges never aliases base's
// maps and slices.
func cloneConfig(c dockerspec.DockerOCIImageConfig) dockerspec.DockerOCIImageConfig {
	data, err := json.Marshal(c)
	if err != nil {
		return c
	}
	var out dockerspec.DockerOCIImageConfig
	if err := json.Unmarshal(data, &out); err != nil {
		return c
	}
	return out
}
