package container

import (
	"encoding/json"
	"testing"
)

func BenchmarkSpec(b *testing.B) {
	in := SpecInput{ID: "abc", Rootfs: "/r", Args: []string{"sh"}, NetNSPath: "/run/ns/abc", HostsPath: "/h"}
	for i := 0; i < b.N; i++ {
		s, err := Spec(in)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(s); err != nil {
			b.Fatal(err)
		}
	}
}
