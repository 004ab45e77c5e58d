package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backupwatch/backupwatch/shared/audit"
	"github.com/backupwatch/backupwatch/shared/auth"
	"github.com/backupwatch/backupwatch/shared/check"
	"github.com/backupwatch/backupwatch/shared/config"
	"github.com/backupwatch/backupwatch/shared/httpapi"
	"github.com/backupwatch/backupwatch/shared/store"
)

// cli is who makes the changes of a command: an operator at the database,
// with no key and so no actor (audit via cli).
var cli = audit.By{Via: audit.CLI}

// openDatabase opens DATABASE_URL (the runtime role's URL) for a command.
func openDatabase(ctx context.Context) (*pgxpool.Pool, error) {
	cfg, err := config.FromEnv(2)
	if err != nil {
		return nil, err
	}
	if cfg.DatabaseURL == "" {
		return nil, errors.New("set DATABASE_URL to the database (the runtime role's URL)")
	}
	return store.Open(ctx, cfg.DatabaseURL, 2, newLogger(io.Discard, "error"))
}

// checkCmd runs the checks once against DATABASE_URL and prints the run's
// summary as JSON. A run that failed, wholly or in part, is an error (exit
// 1). Notifications (reminders included) are left in the outbox for the relay.
func checkCmd(ctx context.Context, out io.Writer) error {
	pool, err := openDatabase(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	cfg, _ := config.FromEnv(2) // read without error by openDatabase
	sum, runErr := check.New(check.Config{Pool: pool}.WithSettings(cfg)).Run(ctx, check.Command, time.Now())
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(sum); err != nil {
		return err
	}
	if runErr != nil {
		return runErr
	}
	return sum.Failure()
}

const keysUsage = `usage: backupwatch keys <command>

  list                                          the API keys (never their secrets)
  create --name NAME --role job|operator|admin [--tenant SLUG|ID]
                                                a new key, printed once
  revoke ID                                     revoke a key at once
`

// errUsage says how to call backupwatch keys.
var errUsage = errors.New(strings.TrimSpace(keysUsage))

// keysCmd manages API keys for operators without an admin key at hand.
// Every change is audited (via cli, no actor).
func keysCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "list":
		if len(args) != 1 {
			return errUsage
		}
		return withDatabase(ctx, func(tx pgx.Tx) error { return listKeys(ctx, tx, out) })
	case "create":
		fs := flag.NewFlagSet("keys create", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		name := fs.String("name", "", "")
		role := fs.String("role", "", "")
		tenant := fs.String("tenant", "", "")
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 0 {
			return errUsage
		}
		return withDatabase(ctx, func(tx pgx.Tx) error { return createKey(ctx, tx, *name, *role, *tenant, out) })
	case "revoke":
		if len(args) != 2 {
			return errUsage
		}
		id, err := uuid.Parse(args[1])
		if err != nil {
			return fmt.Errorf("%q is not a key id (a UUID, from backupwatch keys list)", args[1])
		}
		return withDatabase(ctx, func(tx pgx.Tx) error { return revokeKey(ctx, tx, id, out) })
	}
	return errUsage
}

// withDatabase runs fn in one all-tenants transaction of DATABASE_URL.
func withDatabase(ctx context.Context, fn func(tx pgx.Tx) error) error {
	pool, err := openDatabase(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	return store.InScope(ctx, pool, store.AllTenants, fn)
}

func listKeys(ctx context.Context, tx pgx.Tx, out io.Writer) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tROLE\tTENANT\tPREFIX\tCREATED\tREVOKED")
	p := store.Page{Limit: 500}
	for {
		keys, next, err := store.ListAPIKeys(ctx, tx, p)
		if err != nil {
			return err
		}
		for _, k := range keys {
			tenant, revoked := "-", "-"
			if k.TenantID != nil {
				tenant = k.TenantID.String()
			}
			if k.RevokedAt != nil {
				revoked = k.RevokedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Role, tenant, k.Prefix, k.CreatedAt.Format(time.RFC3339), revoked)
		}
		if next == nil {
			return w.Flush()
		}
		p.After = next
	}
}

// createKey makes a key as POST /v1/api-keys does without a user_id: with a
// SERVICE user named after it, of the key's tenant.
func createKey(ctx context.Context, tx pgx.Tx, name, role, tenantRef string, out io.Writer) error {
	switch {
	case name == "" || len(name) > 200:
		return errors.New("--name is required (at most 200 characters)")
	case !auth.Role(role).Valid():
		return errors.New("--role must be one of job, operator, admin")
	}
	var tenant *uuid.UUID
	if tenantRef != "" {
		t, err := store.FindTenant(ctx, tx, tenantRef)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("--tenant %q names no tenant (give its slug or id)", tenantRef)
		} else if err != nil {
			return err
		}
		tenant = &t.ID
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	u := store.User{ID: uuid.New(), TenantID: tenant, Name: name, Kind: "SERVICE", CreatedAt: now}
	if err := store.InsertUser(ctx, tx, u); err != nil {
		return err
	}
	secret := auth.NewKey()
	k := store.APIKey{ID: uuid.New(), Name: name, Role: auth.Role(role), TenantID: tenant, UserID: u.ID,
		Prefix: auth.Prefix(secret), CreatedAt: now}
	if err := store.InsertAPIKey(ctx, tx, k, auth.Hash(secret)); err != nil {
		return err
	}
	if err := store.Audit(ctx, tx, cli, audit.Change{Action: audit.APIKeyCreate, ObjectType: "api_key",
		ObjectID: k.ID.String(), TenantID: tenant, After: k}, now); err != nil {
		return err
	}
	fmt.Fprintf(out, "id:  %s\nkey: %s\n(shown once, keep it safe)\n", k.ID, secret)
	return nil
}

func revokeKey(ctx context.Context, tx pgx.Tx, id uuid.UUID, out io.Writer) error {
	before, err := store.LockAPIKey(ctx, tx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no API key %s", id)
	} else if err != nil {
		return err
	}
	if before.RevokedAt != nil {
		fmt.Fprintf(out, "%s was already revoked at %s\n", id, before.RevokedAt.Format(time.RFC3339))
		return nil
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := store.RevokeAPIKey(ctx, tx, id, now); err != nil {
		return err
	}
	after := before
	after.RevokedAt = &now
	if err := store.Audit(ctx, tx, cli, audit.Change{Action: audit.APIKeyRevoke, ObjectType: "api_key",
		ObjectID: id.String(), TenantID: before.TenantID, Before: before, After: after}, now); err != nil {
		return err
	}
	fmt.Fprintf(out, "revoked %s (%s…); running servers refuse it within %s\n", id, before.Prefix, httpapi.KeyCacheTTL)
	return nil
}
