package sqlite

// migrations are the schema versions in order: migrations[i] brings a
// database from version i to i+1. Released entries never change; a new
// schema is a new entry.
var migrations = []string{
	// 1: the first schema.
	`
CREATE TABLE products (
	id            TEXT PRIMARY KEY,
	name          TEXT NOT NULL UNIQUE,
	provider_name TEXT NOT NULL,
	description   TEXT NOT NULL,
	product_type  TEXT NOT NULL,
	visibility    TEXT NOT NULL,
	tags          TEXT NOT NULL CHECK (json_valid(tags)),
	search        TEXT NOT NULL,
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL,
	revision      INTEGER NOT NULL
);
CREATE INDEX products_created ON products (created_at, id);

CREATE TABLE templates (
	id           TEXT PRIMARY KEY,
	description  TEXT NOT NULL,
	stack_deps   TEXT NOT NULL CHECK (json_valid(stack_deps)),
	content_hash TEXT NOT NULL,
	created_at   INTEGER NOT NULL
);

CREATE TABLE versions (
	id           TEXT PRIMARY KEY,
	product_id   TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
	name         TEXT NOT NULL,
	description  TEXT NOT NULL,
	guidance     TEXT NOT NULL,
	active       INTEGER NOT NULL,
	stack_deps   TEXT NOT NULL CHECK (json_valid(stack_deps)),
	template_url TEXT NOT NULL,
	content_hash TEXT NOT NULL,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	revision     INTEGER NOT NULL,
	UNIQUE (product_id, name)
);
CREATE INDEX versions_product ON versions (product_id, created_at, id);

CREATE TABLE deployments (
	name              TEXT PRIMARY KEY,
	product_id        TEXT NOT NULL REFERENCES products (id),
	version_id        TEXT NOT NULL REFERENCES versions (id),
	target_version_id TEXT REFERENCES versions (id),
	runtime           TEXT NOT NULL,
	status            TEXT NOT NULL,
	parameters        TEXT NOT NULL CHECK (json_valid(parameters)),
	stacks            TEXT NOT NULL CHECK (json_valid(stacks)),
	operations        TEXT NOT NULL CHECK (json_valid(operations)),
	event_seq         INTEGER NOT NULL DEFAULT 0,
	created_at        INTEGER NOT NULL,
	updated_at        INTEGER NOT NULL,
	revision          INTEGER NOT NULL
);
CREATE INDEX deployments_product ON deployments (product_id);
CREATE INDEX deployments_version ON deployments (version_id);
CREATE INDEX deployments_target ON deployments (target_version_id);

CREATE TABLE events (
	deployment   TEXT NOT NULL REFERENCES deployments (name) ON DELETE CASCADE,
	seq          INTEGER NOT NULL,
	operation_id TEXT NOT NULL,
	time         TEXT NOT NULL,
	type         TEXT NOT NULL,
	stack        TEXT NOT NULL,
	service      TEXT NOT NULL,
	message      TEXT NOT NULL,
	PRIMARY KEY (deployment, seq)
) WITHOUT ROWID;

CREATE TABLE leases (
	deployment  TEXT PRIMARY KEY,
	owner       TEXT NOT NULL,
	acquired_at INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL
);
`,
}

// SchemaVersion is the schema version this package writes.
func SchemaVersion() int { return len(migrations) }
