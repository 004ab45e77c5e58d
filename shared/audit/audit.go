// Package audit is the record of administrative changes: who changed what,
// how the change came (the API, the console, the command line, an import,
// the first start), and the object before and after. An entry is written
// in the same transaction as its change, so one never stands without the
// other, and it is never changed or deleted (the runtime roles may only
// read and append: migration 018). It does no I/O.
//
// An entry never holds a secret: callers pass the objects as the API shows
// them (an API key's id, name, role and prefix, never the key or its hash).
package audit

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Action names a kind of change: <object>.<verb>.
type Action string

// The actions (API.md 1.1, "Deleting, audit"). The list grows with the
// changes that are audited; the database takes any <object>.<verb>.
const (
	TenantCreate     Action = "tenant.create"
	UserCreate       Action = "user.create"
	APIKeyCreate     Action = "api_key.create"
	APIKeyRevoke     Action = "api_key.revoke"
	BackupDelete     Action = "backup.delete"
	PolicyPut        Action = "policy.put"
	StorageTargetPut Action = "storage_target.put"
	RoutingPut       Action = "routing.put"
	SilenceCreate    Action = "silence.create"
	SilenceExpire    Action = "silence.expire"
	SeriesRebaseline Action = "series.rebaseline"
)

// Actions are the known actions, in API.md's order.
var Actions = []Action{TenantCreate, UserCreate, APIKeyCreate, APIKeyRevoke, BackupDelete, PolicyPut,
	StorageTargetPut, RoutingPut, SilenceCreate, SilenceExpire, SeriesRebaseline}

// Valid reports whether a is a known action.
func (a Action) Valid() bool { return slices.Contains(Actions, a) }

// Via is how a change came.
type Via string

// The ways a change comes.
const (
	API       Via = "api"       // an API request
	Console   Via = "console"   // the web console
	CLI       Via = "cli"       // backupwatch on an operator's command line
	Import    Via = "import"    // an importer
	Bootstrap Via = "bootstrap" // the deployment's first start (BACKUPWATCH_ADMIN_KEY)
)

// Actor is the user who made a change, named as they were named then.
type Actor struct {
	ID   uuid.UUID `json:"id"`
	Name string    `json:"name"`
}

// By is who made a change and how: the actor (nil: no one, such as the
// command line run by an operator without a key), the way, and the prefix
// of the key used ("" for none).
type By struct {
	Actor     *Actor
	Via       Via
	KeyPrefix string
}

// Entry is one audited change; its JSON is the API's audit entry.
type Entry struct {
	ID         uuid.UUID       `json:"id"`
	Action     Action          `json:"action"`
	Actor      *Actor          `json:"actor"`
	Via        Via             `json:"via"`
	KeyPrefix  *string         `json:"key_prefix"`
	TenantID   *uuid.UUID      `json:"tenant_id"`
	ObjectType string          `json:"object_type"`
	ObjectID   *string         `json:"object_id"`
	Before     json.RawMessage `json:"before"`
	After      json.RawMessage `json:"after"`
	CreatedAt  time.Time       `json:"created_at"`
}

// Change describes a change to audit: the action, the object (its type,
// its id if it has one, the tenant it belongs to) and its states before and
// after (nil: it did not exist, or no longer does).
type Change struct {
	Action     Action
	ObjectType string
	ObjectID   string // "": an object without an id (the routing table)
	TenantID   *uuid.UUID
	Before     any
	After      any
}

// Entry returns the entry that records change ch made by b at now.
func (b By) Entry(ch Change, now time.Time) (Entry, error) {
	before, err := encode(ch.Before)
	if err != nil {
		return Entry{}, fmt.Errorf("auditing %s: %w", ch.Action, err)
	}
	after, err := encode(ch.After)
	if err != nil {
		return Entry{}, fmt.Errorf("auditing %s: %w", ch.Action, err)
	}
	e := Entry{ID: uuid.New(), Action: ch.Action, Actor: b.Actor, Via: b.Via, TenantID: ch.TenantID,
		ObjectType: ch.ObjectType, Before: before, After: after, CreatedAt: now}
	if b.KeyPrefix != "" {
		p := b.KeyPrefix
		e.KeyPrefix = &p
	}
	if ch.ObjectID != "" {
		id := ch.ObjectID
		e.ObjectID = &id
	}
	return e, nil
}

// encode is v as an entry stores it: nil stays nil (JSON null).
func encode(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if string(b) == "null" {
		return nil, nil
	}
	return b, nil
}
