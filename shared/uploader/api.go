package uploader

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/backup"
)

// Client is what a job needs of the API to add copies: the storage
// targets, a backup (with its tenant's slug), and a PATCH that records a
// path. It speaks API.md over HTTP with the job's key.
type Client struct {
	URL  string // BACKUPWATCH_URL, e.g. http://127.0.0.1:3000
	Key  string // BACKUPWATCH_API_KEY
	HTTP *http.Client
}

// Backup is a backup as GET /v1/backups/{id} answers it, with the slug of
// its tenant.
type Backup struct {
	backup.Backup
	Tenant *struct {
		Slug *string `json:"slug"`
	} `json:"tenant"`
	Copies map[backup.Location]backup.Copy `json:"copies"`
}

// TenantSlug is the backup's tenant's slug ("" without a tenant).
func (b Backup) TenantSlug() string {
	if b.Tenant == nil || b.Tenant.Slug == nil {
		return ""
	}
	return *b.Tenant.Slug
}

// StorageTargets returns GET /v1/storage-targets.
func (c *Client) StorageTargets(ctx context.Context) ([]backup.StorageTarget, error) {
	var page struct {
		Items []backup.StorageTarget `json:"items"`
	}
	return page.Items, c.do(ctx, http.MethodGet, "/v1/storage-targets", nil, "", &page)
}

// GetBackup returns GET /v1/backups/{id}.
func (c *Client) GetBackup(ctx context.Context, id uuid.UUID) (Backup, error) {
	var b Backup
	return b, c.do(ctx, http.MethodGet, "/v1/backups/"+id.String(), nil, "", &b)
}

// AddCopy records path as the backup's copy at target: a PATCH that sets
// a path still null (API.md 1.1, "Copies"), idempotent on retry.
func (c *Client) AddCopy(ctx context.Context, id uuid.UUID, target backup.Location, path string) (Backup, error) {
	body := map[string]string{string(target) + "_path": path}
	var b Backup
	return b, c.do(ctx, http.MethodPatch, "/v1/backups/"+id.String(), body, "copy-"+id.String()+"-"+string(target), &b)
}

// APIError is an error answer of the API.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("the API answered %d %s: %s", e.Status, e.Code, e.Message)
}

func (c *Client) do(ctx context.Context, method, path string, body any, idemKey string, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.URL, "/")+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 2<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		return fmt.Errorf("%s %s: %w", method, path, &APIError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message})
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return nil
}
