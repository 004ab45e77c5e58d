package auth

import (
	"strings"
	"testing"
)

func TestKeys(t *testing.T) {
	a, b := NewKey(), NewKey()
	if a == b || !strings.HasPrefix(a, "bw_") || len(a) != 46 || !WellFormed(a) {
		t.Fatalf("keys %q %q", a, b)
	}
	if string(Hash(a)) == string(Hash(b)) || len(Hash(a)) != 32 {
		t.Fatal("hashes")
	}
	if Prefix(a) != a[:10] || strings.Contains(Prefix(a), a[10:]) {
		t.Fatal("prefix shows too much")
	}
}

func TestFromHeader(t *testing.T) {
	k := NewKey()
	cases := []struct {
		header string
		ok     bool
	}{
		{"Bearer " + k, true},
		{"bearer " + k, true},        // the scheme is case-insensitive
		{"Bearer  " + k + " ", true}, // surrounding space is ignored
		{"", false},
		{"Basic " + k, false},
		{"Bearer", false},
		{"Bearer short", false},
		{"Bearer " + k + "\x00", false}, // control characters
		{"Bearer " + strings.Repeat("k", 300), false},
	}
	for _, tc := range cases {
		if _, ok := FromHeader(tc.header); ok != tc.ok {
			t.Errorf("%q: %v", tc.header, ok)
		}
	}
}
