package main

import (
	"io"
	"strings"
	"testing"

	"github.com/abc-inc/timesheets/pkg/apitest"
	"github.com/abc-inc/timesheets/pkg/importer"
	"github.com/abc-inc/timesheets/pkg/importer/toolfake"
)

func TestSourceFlags(t *testing.T) {
	c, _, err := parseFlags([]string{
		"--source", "https://api.harvestapp.com/v2", "--source-kind", "harvest", "--source-credentials-dir", "/secrets/harvest",
		"--items-path", "time_entries", "--next-path", "links.next", "--map", "user_id=user.email",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.SourceKind != importer.KindHarvest || c.SourceCredentialsDir != "/secrets/harvest" || c.ItemsPath != "time_entries" ||
		c.NextPath != "links.next" || c.Mapping.Names(importer.FieldUserID)[0] != "user.email" {
		t.Fatalf("config %+v", c)
	}
}

// TestConnectorRun imports a Harvest fake's entries through the command, and
// a connector given a file is a configuration error that says what to fix.
func TestConnectorRun(t *testing.T) {
	api := apitest.Start(t, apitest.Options{})
	h := toolfake.NewHarvest(t)
	for _, d := range []string{"2026-01-05", "2026-01-06", "2026-01-07"} {
		h.Put(toolfake.Entry{User: "kim", Project: "Website", Day: d, Hours: 7.5})
	}
	a := []string{
		"--source", h.BaseURL(), "--source-kind", "harvest", "--source-credentials-dir", h.CredentialsDir(t),
		"--api-url", api.URL, "--token-url", api.TokenURL, "--audience", apitest.Audience,
		"--credentials-dir", api.Credentials(t, apitest.ImporterClient),
	}
	code, stdout, stderr := runInProcess(t, a)
	if code != importer.ExitOK || !strings.Contains(stdout, "read=3 created=3 ") {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, h.Token()) {
		t.Fatal("the tool's token was printed")
	}
	if ua := h.Requests()[0].Header.Get("User-Agent"); !strings.HasPrefix(ua, "timesheets-importer (") {
		t.Fatalf("User-Agent %q; Harvest wants the application's name and a link", ua)
	}

	path, _ := writeCSV(t, 2)
	code, _, stderr = runInProcess(t, []string{"--source", path, "--source-kind", "harvest", "--dry-run"})
	if code != importer.ExitConfig || !strings.Contains(stderr, "--source-kind harvest reads a tool's API: give --source as Harvest's https:// API base URL, e.g. https://api.harvestapp.com/v2") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
}

func TestTokenFlags(t *testing.T) {
	c, _, err := parseFlags([]string{"--source", "x.csv", "--dpop", "--assertion-audience", "https://tenant.example/"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !c.DPoP || c.AssertionAudience != "https://tenant.example/" {
		t.Fatalf("config %+v", c)
	}
}
