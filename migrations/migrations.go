// Package migrations holds the numbered SQL migrations of the backupwatch
// schema, embedded so that every binary carries the schema it expects.
//
// Files are named NNN_name.up.sql and are applied in numeric order, each in
// its own transaction, by shared/migrate.
package migrations

import "embed"

// FS is the directory of migration files.
//
//go:embed *.sql
var FS embed.FS
