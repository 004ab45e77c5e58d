package jobclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/google/uuid"
)

// TenantRef is what --tenant names: a tenant id, or a slug that the API
// resolves (GET /v1/tenants, which job keys may read).
type TenantRef string

// ID is the ref as an id, or "" when it is a slug.
func (t TenantRef) ID() string {
	if id, err := uuid.Parse(string(t)); err == nil {
		return id.String()
	}
	return ""
}

// resolveSlugs returns e's body with its tenant slugs replaced by ids.
func (r *Reporter) resolveSlugs(ctx context.Context, e *Entry) ([]byte, error) {
	if len(e.Slugs) == 0 {
		return e.Body, nil
	}
	var body map[string]any
	if err := json.Unmarshal(e.Body, &body); err != nil {
		return nil, err
	}
	for field, slugs := range e.Slugs {
		ids := make([]string, len(slugs))
		for i, s := range slugs {
			id, err := r.tenantID(ctx, s)
			if err != nil {
				return nil, err
			}
			ids[i] = id
		}
		if field == "tenant_id" && len(ids) == 1 {
			body[field] = ids[0]
		} else {
			body[field] = ids
		}
	}
	return json.Marshal(body)
}

// tenantID looks slug up among the tenants the key can see.
func (r *Reporter) tenantID(ctx context.Context, slug string) (string, error) {
	if id := TenantRef(slug).ID(); id != "" {
		return id, nil
	}
	cursor := ""
	for {
		q := url.Values{"limit": {"500"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Items []struct {
				ID   string `json:"id"`
				Slug string `json:"slug"`
			} `json:"items"`
			Next *string `json:"next_cursor"`
		}
		if err := r.Client.JSON(ctx, "GET", "/v1/tenants?"+q.Encode(), nil, &page); err != nil {
			return "", fmt.Errorf("resolving tenant %q: %w", slug, err)
		}
		for _, t := range page.Items {
			if t.Slug == slug {
				return t.ID, nil
			}
		}
		if page.Next == nil || *page.Next == "" {
			return "", fmt.Errorf("no tenant with slug %q is visible to this key", slug)
		}
		cursor = *page.Next
	}
}
