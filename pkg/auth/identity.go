package auth

import "context"

// Employee says whose entries the request may touch. id is the employee id
// of a user token: the policy's identity.employeeClaim, when it is a
// non-empty string that could name somebody (see namePart), else "".
// restricted is true when the token carries that claim (in any form) and
// lacks the policy's identity.allEntriesScope: the caller then sees only
// the entries of id, and none at all when id is "" (a claim that names
// nobody fails closed). A machine token (no employee claim), a manager's
// token (it holds allEntriesScope: restricted false, id still its own) and
// a request without a verified token are not restricted.
func Employee(ctx context.Context) (id string, restricted bool) {
	t, snap := TokenFrom(ctx), snapshotFrom(ctx)
	if t == nil || snap == nil || snap.Identity.EmployeeClaim == "" {
		return "", false
	}
	v, ok := t.claims[snap.Identity.EmployeeClaim]
	if !ok {
		return "", false
	}
	if s, _ := v.(string); namePart(s) {
		id = s
	}
	all := snap.Identity.AllEntriesScope
	return id, all == "" || !t.HasScope(all, snap.ScopeClaims)
}
