package sqldriver

import (
	"regexp"
	"strings"
)

// Types names the column types of a dialect, for the schema written once
// below.
type Types struct {
	Text, Int, Bool string
	// Time is a record time's column, EventTime an event's.
	Time, EventTime string
	// JSON is a JSON column's type; JSONCheck, when set, is a CHECK that
	// validates it, with % for the column's name.
	JSON, JSONCheck string
	// EventsTable ends the CREATE TABLE of events (SQLite: WITHOUT ROWID).
	EventsTable string
}

// schema is every migration, in order: schema[i] brings a database from
// version i to i+1. Released entries never change; a new schema is a new
// entry. {Name} stands for a type of Types, {JSON:col} for a JSON
// column.
var schema = []string{
	// 1: the first schema.
	`
CREATE TABLE products (
	id            {Text} PRIMARY KEY,
	name          {Text} NOT NULL UNIQUE,
	provider_name {Text} NOT NULL,
	description   {Text} NOT NULL,
	product_type  {Text} NOT NULL,
	visibility    {Text} NOT NULL,
	tags          {JSON:tags},
	search        {Text} NOT NULL,
	created_at    {Time} NOT NULL,
	updated_at    {Time} NOT NULL,
	revision      {Int} NOT NULL
);
CREATE INDEX products_created ON products (created_at, id);

CREATE TABLE templates (
	id           {Text} PRIMARY KEY,
	description  {Text} NOT NULL,
	stack_deps   {JSON:stack_deps},
	content_hash {Text} NOT NULL,
	created_at   {Time} NOT NULL
);

CREATE TABLE versions (
	id           {Text} PRIMARY KEY,
	product_id   {Text} NOT NULL REFERENCES products (id) ON DELETE CASCADE,
	name         {Text} NOT NULL,
	description  {Text} NOT NULL,
	guidance     {Text} NOT NULL,
	active       {Bool} NOT NULL,
	stack_deps   {JSON:stack_deps},
	template_url {Text} NOT NULL,
	content_hash {Text} NOT NULL,
	created_at   {Time} NOT NULL,
	updated_at   {Time} NOT NULL,
	revision     {Int} NOT NULL,
	UNIQUE (product_id, name)
);
CREATE INDEX versions_product ON versions (product_id, created_at, id);

CREATE TABLE deployments (
	name              {Text} PRIMARY KEY,
	product_id        {Text} NOT NULL REFERENCES products (id),
	version_id        {Text} NOT NULL REFERENCES versions (id),
	target_version_id {Text} REFERENCES versions (id),
	runtime           {Text} NOT NULL,
	status            {Text} NOT NULL,
	parameters        {JSON:parameters},
	stacks            {JSON:stacks},
	operations        {JSON:operations},
	event_seq         {Int} NOT NULL DEFAULT 0,
	created_at        {Time} NOT NULL,
	updated_at        {Time} NOT NULL,
	revision          {Int} NOT NULL
);
CREATE INDEX deployments_product ON deployments (product_id);
CREATE INDEX deployments_version ON deployments (version_id);
CREATE INDEX deployments_target ON deployments (target_version_id);

CREATE TABLE events (
	deployment   {Text} NOT NULL REFERENCES deployments (name) ON DELETE CASCADE,
	seq          {Int} NOT NULL,
	operation_id {Text} NOT NULL,
	time         {EventTime} NOT NULL,
	type         {Text} NOT NULL,
	stack        {Text} NOT NULL,
	service      {Text} NOT NULL,
	message      {Text} NOT NULL,
	PRIMARY KEY (deployment, seq)
){EventsTable};

CREATE TABLE leases (
	deployment  {Text} PRIMARY KEY,
	owner       {Text} NOT NULL,
	acquired_at {Time} NOT NULL,
	expires_at  {Time} NOT NULL
);
`,
	// 2: the stacks whose volumes a deployment may hold.
	`
ALTER TABLE deployments ADD COLUMN volume_stacks {JSON:volume_stacks} DEFAULT 'null';
`,
}

var jsonColumn = regexp.MustCompile(`\{JSON:(\w+)\}`)

// Migrations returns the schema's migrations in a dialect's types.
func Migrations(t Types) []string {
	r := strings.NewReplacer("{Text}", t.Text, "{Int}", t.Int, "{Bool}", t.Bool, "{Time}", t.Time,
		"{EventTime}", t.EventTime, "{EventsTable}", t.EventsTable)
	out := make([]string, len(schema))
	for i, m := range schema {
		m = jsonColumn.ReplaceAllStringFunc(m, func(s string) string {
			col := jsonColumn.FindStringSubmatch(s)[1]
			def := t.JSON + " NOT NULL"
			if t.JSONCheck != "" {
				def += " " + strings.ReplaceAll(t.JSONCheck, "%", col)
			}
			return def
		})
		out[i] = r.Replace(m)
	}
	return out
}
