package container

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ResolveUser maps a Docker user string ("", "name", "uid", "uid:gid",
// "name:group") to numeric ids using the container's /etc/passwd and /etc/group.
func ResolveUser(rootfs, user string) (uid, gid uint32, err error) {
	if user == "" {
		return 0, 0, nil
	}
	u, g, hasGroup := strings.Cut(user, ":")
	passwd := readDB(filepath.Join(rootfs, "etc/passwd"))
	if n, perr := strconv.ParseUint(u, 10, 32); perr == nil {
		uid = uint32(n)
		for _, f := range passwd {
			if f[2] == u {
				gid = parseID(f[3])
				break
			}
		}
	} else {
		found := false
		for _, f := range passwd {
			if f[0] == u {
				uid, gid, found = parseID(f[2]), parseID(f[3]), true
				break
			}
		}
		if !found {
			return 0, 0, fmt.Errorf("unable to find user %s: no matching entries in passwd file", u)
		}
	}
	if !hasGroup {
		return uid, gid, nil
	}
	if n, perr := strconv.ParseUint(g, 10, 32); perr == nil {
		return uid, uint32(n), nil
	}
	for _, f := range readDB(filepath.Join(rootfs, "etc/group")) {
		if f[0] == g {
			return uid, parseID(f[2]), nil
		}
	}
	return 0, 0, fmt.Errorf("unable to find group %s: no matching entries in group file", g)
}

func parseID(s string) uint32 {
	n, _ := strconv.ParseUint(s, 10, 32)
	return uint32(n)
}

// readDB reads a colon-separated database, keeping lines of at least four fields.
func readDB(path string) [][]string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= 4 && !strings.HasPrefix(fields[0], "#") {
			out = append(out, fields)
		}
	}
	return out
}
