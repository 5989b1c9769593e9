package dpop

// Reasons a proof is refused: a fixed set, fit for a metric label.
const (
	ReasonMalformed       = "malformed" // not one compact JWS, a bad encoding, a required claim missing (RFC 9449 §4.3 (2), (3))
	ReasonType            = "type"      // typ is not dpop+jwt (§4.3 (4))
	ReasonAlgorithm       = "algorithm" // none, a MAC, or not allowed (§4.3 (5))
	ReasonKey             = "key"       // no jwk, a private or symmetric one, an unsupported or weak key (§4.3 (7))
	ReasonSignature       = "signature" // the signature does not verify with the jwk (§4.3 (6))
	ReasonMethod          = "method"    // htm is not the request's method (§4.3 (8))
	ReasonURI             = "uri"       // htu is not the request's URI (§4.3 (9))
	ReasonIssuedAt        = "iat"       // iat missing, not a number, too old or in the future (§4.3 (11), §11.1)
	ReasonAccessTokenHash = "ath"       // ath missing or not the access token's hash (§4.3 (12))
	ReasonKeyBinding      = "jkt"       // the jwk's thumbprint is not the token's cnf.jkt (§4.3 (12), §6.1)
	ReasonReplay          = "replay"    // the jti was seen before (§11.1)
	ReasonNonce           = "nonce"     // no nonce, or not one this server issued recently (§4.3 (10), §8, §9)
)

// Reasons lists every Reason, for callers that initialise metric labels.
func Reasons() []string {
	return []string{ReasonMalformed, ReasonType, ReasonAlgorithm, ReasonKey, ReasonSignature, ReasonMethod,
		ReasonURI, ReasonIssuedAt, ReasonAccessTokenHash, ReasonKeyBinding, ReasonReplay, ReasonNonce}
}

// Error is why a proof was refused. Description is a fixed sentence that
// never quotes the proof or any part of it, so it may go into a
// WWW-Authenticate error_description (RFC 9449 §7.1) or a log. The *Error
// values the package returns are shared: read them, do not modify them.
type Error struct{ Reason, Description string }

func (e *Error) Error() string { return "dpop: " + e.Description }

// Is reports whether target is an *Error with the same Reason (and the same
// Description, when target has one), so errors.Is(err, &dpop.Error{Reason:
// dpop.ReasonReplay}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason && (t.Description == "" || t.Description == e.Description)
}

func refuse(reason, description string) *Error {
	return &Error{Reason: reason, Description: description}
}
