package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// UploadPath is the API's batch endpoint, relative to --api-url.
const UploadPath = "/timesheets/upload"

// Tokens gives the uploader its access tokens; *TokenSource is one.
type Tokens interface {
	Token() (*oauth2.Token, error)
	Invalidate(accessToken string)
}

// Uploader posts batches to POST /timesheets/upload, retrying what is worth
// retrying. The API stores a batch in one transaction and reports a known
// (source, external_id) as a duplicate, so sending a batch again after a
// lost answer is safe.
type Uploader struct {
	Endpoint  string // full URL of the upload endpoint
	Client    *http.Client
	Tokens    Tokens
	Backoff   Backoff
	UserAgent string
	// DPoP signs a proof for every request made with a DPoP-bound token
	// (token_type DPoP): Authorization: DPoP <token> plus a DPoP header
	// (RFC 9449 §7). A bearer token goes as Authorization: Bearer.
	DPoP *DPoP
}

// ScopeError is a 403: the client's token lacks a scope the route needs.
// Retrying cannot help, so the run stops.
type ScopeError struct {
	Scope       string // the scopes the API named, space-separated
	Description string
}

func (e *ScopeError) Error() string {
	if e.Scope == "" {
		return "the API refused the upload (403 Forbidden): " + e.Description
	}
	return fmt.Sprintf("the API refused the upload: the client's token lacks the scope %q (403 insufficient_scope); grant %s to the importer's client in the authorization server", e.Scope, e.Scope)
}

// AuthError is a 401 that a fresh token did not cure.
type AuthError struct{ Description string }

func (e *AuthError) Error() string {
	return "the API refused the access token twice (401): " + e.Description +
		"; check that --audience is the API identifier and that the API trusts the issuer"
}

// BatchError is a batch the API refused as a whole (400, 413, 422, ...):
// its entries fail, but other batches can still go through.
type BatchError struct {
	Status  int
	Message string
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("the API refused the batch (%d): %s", e.Status, e.Message)
}

// maxResponseBytes bounds an upload's answer (a result per entry).
const maxResponseBytes = 32 << 20

// Upload sends one batch (a JSON array of n entries). A *BatchError means
// only this batch failed; any other error means no upload can succeed.
func (u *Uploader) Upload(ctx context.Context, body []byte, n int) (*timesheets.BatchResponse, error) {
	var res timesheets.BatchResponse
	err := u.call(ctx, http.MethodPost, u.Endpoint, body, func(data []byte) error {
		if err := json.Unmarshal(data, &res); err != nil {
			return fmt.Errorf("POST %s: the answer is not a batch result: %w", u.Endpoint, err)
		}
		if len(res.Results) != n {
			return fmt.Errorf("POST %s: the answer has %d results for %d entries", u.Endpoint, len(res.Results), n)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// Checkpoint asks the API what this client has stored of source: the
// newest source_updated_at, from which an incremental run reads.
func (u *Uploader) Checkpoint(ctx context.Context, source string) (*timesheets.CheckpointResponse, error) {
	endpoint := u.Endpoint + "/checkpoint?" + url.Values{"source": {source}}.Encode()
	var res timesheets.CheckpointResponse
	err := u.call(ctx, http.MethodGet, endpoint, nil, func(data []byte) error {
		if err := json.Unmarshal(data, &res); err != nil {
			return fmt.Errorf("GET %s: the answer is not a checkpoint: %w", endpoint, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// SetCheckpoint records at as this client's checkpoint of source: the
// newest modification time a run that read and stored everything stored.
func (u *Uploader) SetCheckpoint(ctx context.Context, source string, at time.Time) error {
	body, err := json.Marshal(timesheets.CheckpointRequest{Source: source, SourceUpdatedAt: at.UTC().Format(time.RFC3339Nano)})
	if err != nil {
		return err
	}
	endpoint := u.Endpoint + "/checkpoint"
	return u.call(ctx, http.MethodPut, endpoint, body, func([]byte) error { return nil })
}

// Prune tells the API all the keys the source has in a window; it deletes
// this client's other entries of the source there (once per call, as many
// as its limit: the caller repeats while the answer is not complete).
func (u *Uploader) Prune(ctx context.Context, req timesheets.PruneRequest, dryRun bool) (*timesheets.PruneResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	endpoint := u.Endpoint + "/prune"
	if dryRun {
		endpoint += "?dry_run=true"
	}
	var res timesheets.PruneResponse
	err = u.call(ctx, http.MethodPost, endpoint, body, func(data []byte) error {
		if err := json.Unmarshal(data, &res); err != nil {
			return fmt.Errorf("POST %s: the answer is not a prune result: %w", endpoint, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// call makes a request with retries (429, 5xx, network errors), one fresh
// token after a 401 and one more try after a DPoP nonce challenge, and
// hands a 200's body to decode.
func (u *Uploader) call(ctx context.Context, method, endpoint string, body []byte, decode func([]byte) error) error {
	refreshed, renonced := false, false
	return u.Backoff.retry(ctx, func() error {
		for {
			data, again, err := u.try(ctx, method, endpoint, body, !refreshed, !renonced)
			switch again {
			case againToken:
				refreshed = true
				continue // 401: once more at once, with a new token
			case againNonce:
				renonced = true
				continue // 401 use_dpop_nonce: once more at once, with the nonce
			}
			if err != nil {
				return err
			}
			return decode(data)
		}
	})
}

// What try asks of its caller after a 401.
type tryAgain int

const (
	againNo    tryAgain = iota
	againToken          // a fresh token
	againNonce          // a proof with the nonce the API gave
)

// try makes one attempt and returns a 200's body. again asks for an
// immediate second attempt with a fresh token, or with the API's DPoP
// nonce, after a 401.
func (u *Uploader) try(ctx context.Context, method, endpoint string, body []byte, mayRefresh, mayRenonce bool) (_ []byte, _ tryAgain, _ error) {
	tok, err := u.Tokens.Token()
	if err != nil {
		return nil, againNo, err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, endpoint, rd)
	if err != nil {
		return nil, againNo, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if u.UserAgent != "" {
		req.Header.Set("User-Agent", u.UserAgent)
	}
	sentNonce, err := u.authorize(req, tok)
	if err != nil {
		return nil, againNo, err
	}
	ctx, span := startUploadSpan(ctx, req)
	defer span.End()
	resp, err := u.Client.Do(req)
	traceResponse(span, resp)
	what := method + " " + endpoint
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, againNo, cerr
		}
		return nil, againNo, &retryable{err: fmt.Errorf("%s: %w", what, err)}
	}
	defer resp.Body.Close()
	if u.DPoP != nil {
		u.DPoP.Remember(endpoint, resp.Header)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, againNo, cerr
		}
		// The batch may or may not be stored; sending it again is safe.
		return nil, againNo, &retryable{err: fmt.Errorf("%s: reading the answer: %w", what, err)}
	}

	switch code := resp.StatusCode; {
	case code == http.StatusOK:
		return data, againNo, nil
	case code == http.StatusUnauthorized:
		ch := authChallenge(resp, tok)
		if isDPoPToken(tok.TokenType) && ch["error"] == "invalid_dpop_proof" && ch["algs"] != "" && u.DPoP != nil {
			if algs := strings.Fields(ch["algs"]); !slices.Contains(algs, u.DPoP.Key.Alg()) {
				return nil, againNo, &DPoPAlgError{Alg: u.DPoP.Key.Alg(), Algs: algs}
			}
		}
		if isDPoPToken(tok.TokenType) && ch["error"] == "use_dpop_nonce" {
			// A nonce other than the one this proof carried is worth one
			// more try (RFC 9449 §9); the same one again is not.
			if n := resp.Header.Get("DPoP-Nonce"); n != "" && n != sentNonce && mayRenonce {
				return nil, againNonce, nil
			}
			return nil, againNo, fmt.Errorf("%s: the API asked for a DPoP nonce (use_dpop_nonce) again after the importer sent the one it gave", what)
		}
		if mayRefresh {
			u.Tokens.Invalidate(tok.AccessToken)
			return nil, againToken, nil
		}
		desc := ch["error_description"]
		if desc == "" {
			desc = apiMessage(data, resp.Status)
		}
		return nil, againNo, &AuthError{Description: desc}
	case code == http.StatusForbidden:
		ch := authChallenge(resp, tok)
		desc := ch["error_description"]
		if desc == "" {
			desc = apiMessage(data, resp.Status)
		}
		return nil, againNo, &ScopeError{Scope: ch["scope"], Description: desc}
	case retryableStatus(code):
		return nil, againNo, &retryable{
			err:   fmt.Errorf("%s answered %s: %s", what, resp.Status, apiMessage(data, "")),
			after: ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		}
	case code == http.StatusBadRequest || code == http.StatusRequestEntityTooLarge || code == http.StatusUnprocessableEntity || code == http.StatusConflict:
		return nil, againNo, &BatchError{Status: code, Message: apiMessage(data, resp.Status)}
	default:
		return nil, againNo, fmt.Errorf("%s answered %s: %s; check --api-url", what, resp.Status, apiMessage(data, ""))
	}
}

// authorize sets the request's Authorization: the token as Bearer, or a
// DPoP-bound one as DPoP with a fresh proof for this method and URL, the
// token's hash and the API's latest nonce (RFC 9449 §7.1), which it
// returns.
func (u *Uploader) authorize(req *http.Request, tok *oauth2.Token) (nonce string, _ error) {
	if !isDPoPToken(tok.TokenType) {
		tok.SetAuthHeader(req)
		return "", nil
	}
	if u.DPoP == nil {
		return "", errors.New("the access token is DPoP-bound but the importer holds no DPoP key; run with --dpop")
	}
	proof, nonce, err := u.DPoP.proof(req.Method, req.URL.String(), tok.AccessToken)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", TokenTypeDPoP+" "+tok.AccessToken)
	req.Header.Set("DPoP", proof)
	return nonce, nil
}

// authChallenge is the API's challenge to the scheme the token was sent
// with: DPoP's for a DPoP-bound token when there is one, else Bearer's.
func authChallenge(resp *http.Response, tok *oauth2.Token) map[string]string {
	if isDPoPToken(tok.TokenType) {
		if ch, ok := challenge(resp.Header.Values("WWW-Authenticate"), "DPoP"); ok {
			return ch
		}
	}
	ch, _ := challenge(resp.Header.Values("WWW-Authenticate"), "Bearer")
	return ch
}

// apiMessage extracts the human part of an error body.
func apiMessage(data []byte, fallback string) string {
	var body struct {
		Error       string `json:"error"`
		Message     string `json:"message"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(data, &body) == nil {
		for _, s := range []string{body.Message, body.Description, body.Error} {
			if s != "" {
				return s
			}
		}
	}
	s := strings.TrimSpace(string(data))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		return fallback
	}
	return s
}

// isFatal reports whether an upload error ends the run.
func isFatal(err error) bool {
	var be *BatchError
	return err != nil && !errors.As(err, &be)
}
