package sqlite

import "github.com/stackwave/stackwave/store/internal/sqldriver"

// migrations are the store's schema in SQLite's types.
var migrations = sqldriver.Migrations(sqldriver.Types{
	Text: "TEXT", Int: "INTEGER", Bool: "INTEGER",
	Time: "INTEGER", EventTime: "TEXT", // nanoseconds; RFC 3339 text
	JSON: "TEXT", JSONCheck: "CHECK (json_valid(%))",
	EventsTable: " WITHOUT ROWID",
})

// SchemaVersion is the schema version this package writes.
func SchemaVersion() int { return len(migrations) }
