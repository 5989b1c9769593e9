package main

import "testing"

func TestCheckLoopback(t *testing.T) {
	for target, ok := range map[string]bool{
		"http://127.0.0.1:8080": true, "http://127.3.2.1": true, "http://[::1]:8080": true, "http://[::ffff:127.0.0.1]:1": true,
		"http://localhost:8080": false, "http://10.0.0.1": false, "http://0.0.0.0:8080": false, "http://[::]:80": false,
		"http://example.com": false, "http://127.0.0.1.nip.io": false, "": false,
	} {
		if err := checkLoopback(target); (err == nil) != ok {
			t.Errorf("checkLoopback(%q) = %v, want allowed %v", target, err, ok)
		}
	}
}

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		ok   bool
	}{
		{"api", []string{"-api", "/bin/api"}, true},
		{"target", []string{"-target", "http://127.0.0.1:8080", "-token", "t"}, true},
		{"neither", nil, false},
		{"both", []string{"-api", "a", "-target", "http://127.0.0.1:1", "-token", "t"}, false},
		{"remote target", []string{"-target", "http://192.168.1.1:8080", "-token", "t"}, false},
		{"target without token", []string{"-target", "http://127.0.0.1:8080"}, false},
		{"bad conns", []string{"-api", "a", "-conns", "0"}, false},
		{"bad engine", []string{"-api", "a", "-engines", "mysql"}, false},
		{"unbounded", []string{"-api", "a", "-duration", "1h"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseFlags(tc.args); (err == nil) != tc.ok {
				t.Errorf("parseFlags(%q) = %v, want ok %v", tc.args, err, tc.ok)
			}
		})
	}
}
