// Package jobclient is the job side of backupwatch: what `backupwatch run`,
// `report`, `verify`, `wal-archive`, `restore` and `flush` do on a backup
// host. It talks to the API over HTTP as API.md says, and never loses a
// report: every report carries an Idempotency-Key derived from its job, and
// one that cannot be delivered now waits in a spool directory.
//
// A report's life:
//
//	Send ──▶ delivered (2xx)
//	  │
//	  ├──▶ queued in the spool (connection refused, timeout, 5xx, 429, 409 idempotency_key_in_use)
//	  │      └──▶ delivered by a later Send or Flush, in the order queued
//	  │
//	  └──▶ set aside (any other 4xx): kept in the spool's aside/ with the API's
//	         answer, never retried unless someone asks (flush --retry-aside)
//
// The spool is a directory (BACKUPWATCH_SPOOL): one JSON file per queued
// report, named so that names sort in the order queued; aside/ for refused
// reports; created/ for the ids of creates delivered from the spool, which
// the updates queued after them need. A lock file serialises the processes
// that deliver from it (a run, archive_command's many wal-archive calls, a
// flush), so that a job's create always reaches the API before its update.
package jobclient
