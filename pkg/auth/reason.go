// Package auth is the bearer-token middleware of the Timesheets API: it
// validates JWT access tokens (jwt/v5, keys through jwkset) against the
// policy snapshot in force and checks the scopes each route requires. Errors
// follow RFC 6750. It knows nothing of Kubernetes.
package auth

import (
	"net/http"
)

// Reason is why a request failed authentication or authorization. The set is
// fixed: it labels metrics.
type Reason string

const (
	ReasonMissingToken        Reason = "missing_token"
	ReasonMalformedToken      Reason = "malformed_token"
	ReasonBadSignature        Reason = "bad_signature"
	ReasonUnknownKey          Reason = "unknown_key"
	ReasonDisallowedAlgorithm Reason = "disallowed_algorithm"
	ReasonExpired             Reason = "expired"
	ReasonNotYetValid         Reason = "not_yet_valid"
	ReasonIssuerMismatch      Reason = "issuer_mismatch"
	ReasonAudienceMismatch    Reason = "audience_mismatch"
	ReasonInsufficientScope   Reason = "insufficient_scope"
	ReasonNoPolicy            Reason = "no_policy"
	ReasonKeysUnavailable     Reason = "keys_unavailable"
	ReasonWrongTokenType      Reason = "wrong_token_type"
	ReasonLifetimeTooLong     Reason = "lifetime_too_long"
	// ReasonConditionFailed: the route's when condition is false or fails.
	ReasonConditionFailed Reason = "condition_failed"
	// ReasonInsufficientUserAuthentication: the token's acr or auth_time
	// falls short of the route's step-up rules (RFC 9470).
	ReasonInsufficientUserAuthentication Reason = "insufficient_user_authentication"

	// DPoP (RFC 9449).
	ReasonDPoPRequired           Reason = "dpop_required"            // a bearer token where only bound ones are taken
	ReasonDPoPDisabled           Reason = "dpop_disabled"            // a bound token or the DPoP scheme where DPoP is off
	ReasonDPoPBoundAsBearer      Reason = "dpop_bound_as_bearer"     // a bound token sent as a bearer token
	ReasonDPoPNotBound           Reason = "dpop_not_bound"           // the DPoP scheme with a token bound to no key
	ReasonDPoPUnsupportedBinding Reason = "dpop_unsupported_binding" // cnf this API cannot check
	ReasonDPoPInvalidProof       Reason = "dpop_invalid_proof"       // missing, several, or failing RFC 9449 §4.3
	ReasonDPoPProofMismatch      Reason = "dpop_proof_mismatch"      // ath or the key's thumbprint differ from the token's
	ReasonDPoPReplay             Reason = "dpop_replay"              // a proof (jti) seen before
	ReasonDPoPNonce              Reason = "dpop_nonce"               // no current server nonce
	ReasonDPoPUnavailable        Reason = "dpop_unavailable"         // the replay ledger or the nonce secret cannot be reached
)

// Reasons lists every reason, for tests and dashboards.
var Reasons = []Reason{
	ReasonMissingToken, ReasonMalformedToken, ReasonBadSignature, ReasonUnknownKey,
	ReasonDisallowedAlgorithm, ReasonExpired, ReasonNotYetValid, ReasonIssuerMismatch,
	ReasonAudienceMismatch, ReasonInsufficientScope, ReasonNoPolicy, ReasonKeysUnavailable,
	ReasonWrongTokenType, ReasonLifetimeTooLong, ReasonConditionFailed, ReasonInsufficientUserAuthentication,
	ReasonDPoPRequired, ReasonDPoPDisabled, ReasonDPoPBoundAsBearer, ReasonDPoPNotBound, ReasonDPoPUnsupportedBinding,
	ReasonDPoPInvalidProof, ReasonDPoPProofMismatch, ReasonDPoPReplay, ReasonDPoPNonce, ReasonDPoPUnavailable,
}

// Each reason's failure series exists before its first failure (alerts).

// description is the fixed, client-facing text of each reason. It never
// includes anything taken from the token.
var description = map[Reason]string{
	ReasonMissingToken:                   "send an access token in the Authorization header: Bearer <token>",
	ReasonMalformedToken:                 "the access token is not a well-formed JWT with the required claims (exp is required, times are JSON numbers, no crit header)",
	ReasonBadSignature:                   "the access token signature is invalid",
	ReasonUnknownKey:                     "the access token is signed with a key the issuer does not publish",
	ReasonDisallowedAlgorithm:            "the access token uses a signing algorithm that is not allowed or does not match its key",
	ReasonExpired:                        "the access token has expired",
	ReasonNotYetValid:                    "the access token is not valid yet",
	ReasonIssuerMismatch:                 "the access token was issued by an issuer that is not accepted",
	ReasonAudienceMismatch:               "the access token is not meant for this API (aud)",
	ReasonInsufficientScope:              "the access token lacks the scope this request requires",
	ReasonNoPolicy:                       "no access policy is loaded; try again later",
	ReasonKeysUnavailable:                "the issuer's signing keys are not available yet; try again later",
	ReasonWrongTokenType:                 "the access token is not of the type this API requires (typ header)",
	ReasonLifetimeTooLong:                "the access token is valid for longer than this API accepts (exp too far after iat or now)",
	ReasonConditionFailed:                "the access token does not meet the conditions of this request",
	ReasonInsufficientUserAuthentication: "the user must authenticate again, with a stronger method or more recently, for this request",
	ReasonDPoPRequired:                   "this request takes only DPoP-bound access tokens, sent as Authorization: DPoP with a DPoP proof",
	ReasonDPoPDisabled:                   "this request takes only bearer access tokens, not DPoP-bound ones",
	ReasonDPoPBoundAsBearer:              "the access token is DPoP-bound: send it as Authorization: DPoP with a DPoP proof",
	ReasonDPoPNotBound:                   "the access token is not DPoP-bound: send it as Authorization: Bearer",
	ReasonDPoPUnsupportedBinding:         "the access token is bound (cnf) in a way this API cannot check",
	ReasonDPoPInvalidProof:               "send exactly one valid DPoP proof for this request (typ dpop+jwt, an allowed asymmetric algorithm, a public jwk, this method and URI, a recent iat, a new jti)",
	ReasonDPoPProofMismatch:              "the DPoP proof does not match the access token (ath, or the key the token is bound to)",
	ReasonDPoPReplay:                     "the DPoP proof was used before; make a new one for each request",
	ReasonDPoPNonce:                      "make the DPoP proof with the nonce in the DPoP-Nonce header",
	ReasonDPoPUnavailable:                "DPoP proofs cannot be checked right now; try again later",
}

// status is the HTTP status each reason answers with.
func (r Reason) status() int {
	switch r {
	case ReasonInsufficientScope, ReasonConditionFailed:
		return http.StatusForbidden
	case ReasonNoPolicy, ReasonKeysUnavailable, ReasonDPoPUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusUnauthorized
	}
}
