package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/backupwatch/backupwatch/shared/verifier"
)

// POST /v1/verifications/run's bounds (API.md 1.1, "Storage targets and
// verification"): a small budget, within what one HTTP request may take.
const (
	verifyDefaultBytes = 1 << 30
	verifyMaxBytes     = 5 << 30
	verifyRunTime      = 25 * time.Second
)

// runVerification runs the copy verifier now, within ?max_bytes= and 25
// seconds, the same run as the schedule's on its own connections: it
// records its outcome whatever becomes of this request's transaction,
// which only authenticated the caller. A run while another is going is
// 409 conflict.
func (s *Server) runVerification(ctx context.Context, c *call) (int, any, error) {
	if c.who.Scoped() {
		return 0, nil, forbidden("a verification run reads every tenant's copies: a tenant-scoped key cannot start one")
	}
	if err := noFields(c); err != nil {
		return 0, nil, err
	}
	budget := int64(verifyDefaultBytes)
	const allowed = "must be a whole number of bytes from 1 to 5368709120 (5 GiB)"
	n, err := optional(s.newQuery(c.r), "max_bytes", allowed, func(v string) (int64, bool) {
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil && n >= 1 && n <= verifyMaxBytes && !strings.HasPrefix(v, "+")
	})
	if err != nil {
		return 0, nil, err
	}
	if n != nil {
		budget = *n
	}
	sum, err := s.copies.Run(ctx, verifier.OnDemand, c.now, verifier.Options{MaxBytes: budget, Deadline: time.Now().Add(verifyRunTime)})
	if errors.Is(err, verifier.ErrBusy) {
		return 0, nil, newError(http.StatusConflict, "conflict", "a verification run is going: try again when it has finished")
	}
	if err != nil {
		return 0, nil, err
	}
	// API.md's fields (run_id, copies_read, bytes_read, matched, mismatched,
	// missing, remaining), and what else the run recorded.
	return http.StatusOK, sum, nil
}
