package importer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"
)

// Names of the files in the source credentials directory, as the keys of the
// Kubernetes Secret mounted there (--source-credentials-dir).
const (
	SourceTokenFile       = "token"        // every connector: the tool's API token
	SourceAccountIDFile   = "account-id"   // Harvest: the Harvest-Account-Id
	SourceWorkspaceIDFile = "workspace-id" // Toggl and Clockify: the workspace to read
	SourceUserIDFile      = "user-id"      // Clockify (optional): whose entries; default: the token's user
)

// DefaultSourceCredentialsDir is where the Helm chart mounts the Secret with
// the tool's credentials.
const DefaultSourceCredentialsDir = "/var/run/secrets/timesheets/source"

// sourceCreds are what a connector read from the credentials directory. Only
// token is a secret; the ids go into headers and URLs.
type sourceCreds struct {
	token, accountID, workspaceID, userID string
}

// readSourceCreds reads the token and the files a connector needs (need) or
// may use (optional) from dir. A missing or empty needed file is a
// ConfigError naming it; values never appear in messages.
func readSourceCreds(dir, tool string, need, optional []string) (sourceCreds, error) {
	var c sourceCreds
	dst := map[string]*string{
		SourceTokenFile: &c.token, SourceAccountIDFile: &c.accountID,
		SourceWorkspaceIDFile: &c.workspaceID, SourceUserIDFile: &c.userID,
	}
	keys := strings.Join(append([]string{SourceTokenFile}, need...), ", ")
	read := func(name string, required bool) error {
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(p)
		switch {
		case errors.Is(err, fs.ErrNotExist) && !required:
			return nil
		case errors.Is(err, fs.ErrNotExist):
			return ConfigError{fmt.Errorf("source credentials: %s does not exist; %s needs the files %s in --source-credentials-dir %s (the keys of the mounted Secret)", p, tool, keys, dir)}
		case err != nil:
			return ConfigError{fmt.Errorf("source credentials: %w", err)}
		}
		v := strings.TrimSpace(string(b))
		switch {
		case v == "":
			return ConfigError{fmt.Errorf("source credentials: %s is empty; put %s's %s in it", p, tool, strings.ReplaceAll(name, "-", " "))}
		case strings.ContainsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
			return ConfigError{fmt.Errorf("source credentials: %s holds spaces or more than one line; put only the %s in it", p, strings.ReplaceAll(name, "-", " "))}
		case name != SourceTokenFile && strings.ContainsAny(v, "/?#%"):
			return ConfigError{fmt.Errorf("source credentials: %s is not an id (it has '/', '?', '#' or '%%')", p)}
		}
		*dst[name] = v
		return nil
	}
	if err := read(SourceTokenFile, true); err != nil {
		return c, err
	}
	for _, n := range need {
		if err := read(n, true); err != nil {
			return c, err
		}
	}
	for _, n := range optional {
		if err := read(n, false); err != nil {
			return c, err
		}
	}
	return c, nil
}
