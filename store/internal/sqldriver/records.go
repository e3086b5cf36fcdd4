package sqldriver

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/store"
)

// querier runs the reads of a record, on the read pool or in a write
// transaction.
type querier interface {
	queryRow(query string, args ...any) row
	query(query string, args ...any) (*sql.Rows, error)
}

// pool is the querier of the read pool.
type pool struct {
	ctx context.Context
	d   *Driver
}

func (p pool) queryRow(query string, args ...any) row { return p.d.queryRow(p.ctx, query, args...) }

func (p pool) query(query string, args ...any) (*sql.Rows, error) {
	st, err := p.d.rstmt(p.ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(p.ctx, args...)
}

// snapshot is the querier of a read transaction.
type snapshot struct {
	ctx context.Context
	tx  *sql.Tx
}

func (s snapshot) queryRow(query string, args ...any) row {
	return s.tx.QueryRowContext(s.ctx, query, args...)
}

func (s snapshot) query(query string, args ...any) (*sql.Rows, error) {
	return s.tx.QueryContext(s.ctx, query, args...)
}

// Column lists.

func (d *Driver) productCols() string {
	return `id, name, provider_name, description, product_type, visibility, ` + d.dl.JSON("tags") + `, created_at, updated_at, revision`
}

func (d *Driver) versionCols() string {
	return `id, product_id, name, description, guidance, active, ` + d.dl.JSON("stack_deps") + `, template_url, content_hash, created_at, updated_at, revision`
}

func (d *Driver) templateCols() string {
	return `id, description, ` + d.dl.JSON("stack_deps") + `, content_hash, created_at`
}

func (d *Driver) deploymentCols() string {
	return `name, product_id, version_id, target_version_id, runtime, status, ` + d.dl.JSON("parameters") + `, ` +
		d.dl.JSON("stacks") + `, ` + d.dl.JSON("operations") + `, ` + d.dl.JSON("volume_stacks") + `, created_at, updated_at, revision`
}

const leaseCols = `deployment, owner, acquired_at, expires_at`

const eventCols = `seq, operation_id, time, type, stack, service, message`

// Scanning.

// timeCol scans a time stored as nanoseconds, a timestamp or text.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(v any) error {
	switch v := v.(type) {
	case int64:
		*c.t = time.Unix(0, v).UTC()
	case time.Time:
		*c.t = v.UTC()
	case string:
		return c.parse(v)
	case []byte:
		return c.parse(string(v))
	default:
		return fmt.Errorf("unexpected %T for a time column", v)
	}
	return nil
}

func (c timeCol) parse(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	*c.t = t.UTC()
	return err
}

// jsonCol scans a JSON column into v.
type jsonCol struct{ v any }

func (c jsonCol) Scan(src any) error {
	var b []byte
	switch s := src.(type) {
	case nil:
		return nil
	case string:
		b = []byte(s)
	case []byte:
		b = s
	default:
		return fmt.Errorf("unexpected %T for a JSON column", src)
	}
	if len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, c.v)
}

func encode(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func scanProduct(r row) (*product.Product, error) {
	var p product.Product
	err := r.Scan(&p.ID, &p.Name, &p.ProviderName, &p.Description, &p.ProductType, &p.Visibility, jsonCol{&p.Tags},
		timeCol{&p.CreatedAt}, timeCol{&p.UpdatedAt}, &p.Revision)
	return &p, err
}

func scanVersion(r row) (*product.Version, error) {
	var v product.Version
	err := r.Scan(&v.ID, &v.ProductID, &v.Name, &v.Description, &v.Guidance, &v.Active, jsonCol{&v.StackDeps},
		&v.TemplateURL, &v.ContentHash, timeCol{&v.CreatedAt}, timeCol{&v.UpdatedAt}, &v.Revision)
	return &v, err
}

func scanTemplate(r row) (*store.Template, error) {
	var t store.Template
	err := r.Scan(&t.ID, &t.Description, jsonCol{&t.StackDeps}, &t.ContentHash, timeCol{&t.CreatedAt})
	t.URL = store.TemplateURLPrefix + t.ID
	return &t, err
}

func scanDeployment(r row) (*store.Deployment, error) {
	var x store.Deployment
	var target sql.NullString
	err := r.Scan(&x.Name, &x.ProductID, &x.VersionID, &target, &x.Runtime, &x.Status,
		jsonCol{&x.Parameters}, jsonCol{&x.Stacks}, jsonCol{&x.Operations}, jsonCol{&x.VolumeStacks},
		timeCol{&x.CreatedAt}, timeCol{&x.UpdatedAt}, &x.Revision)
	x.TargetVersionID = target.String
	return &x, err
}

func scanLease(r row) (*store.Lease, error) {
	var l store.Lease
	err := r.Scan(&l.Deployment, &l.Owner, timeCol{&l.AcquiredAt}, timeCol{&l.ExpiresAt})
	return &l, err
}

func scanEvent(r row) (store.Event, error) {
	var e store.Event
	err := r.Scan(&e.Seq, &e.OperationID, timeCol{&e.Time}, &e.Type, &e.Stack, &e.Service, &e.Message)
	return e, err
}

// one reads one record, ErrNotFound when there is none.
func one[T any](r row, scan func(row) (T, error)) (T, error) {
	v, err := scan(r)
	if errors.Is(err, sql.ErrNoRows) {
		var zero T
		return zero, store.ErrNotFound
	}
	return v, err
}

// all reads every row of a query.
func all[T any](scan func(row) (T, error), rows *sql.Rows, err error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var res []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		res = append(res, v)
	}
	return res, rows.Err()
}

// Reads shared by the driver and its transactions.

func (d *Driver) product(q querier, id string) (*product.Product, error) {
	return one(q.queryRow(`SELECT `+d.productCols()+` FROM products WHERE id = $1`, id), scanProduct)
}

func (d *Driver) productByName(q querier, name string) (*product.Product, error) {
	return one(q.queryRow(`SELECT `+d.productCols()+` FROM products WHERE name = $1`, name), scanProduct)
}

func (d *Driver) version(q querier, id string) (*product.Version, error) {
	return one(q.queryRow(`SELECT `+d.versionCols()+` FROM versions WHERE id = $1`, id), scanVersion)
}

func (d *Driver) template(q querier, id string) (*store.Template, error) {
	return one(q.queryRow(`SELECT `+d.templateCols()+` FROM templates WHERE id = $1`, id), scanTemplate)
}

func (d *Driver) deployment(q querier, name string) (*store.Deployment, error) {
	return one(q.queryRow(`SELECT `+d.deploymentCols()+` FROM deployments WHERE name = $1`, name), scanDeployment)
}

func (d *Driver) lease(q querier, deployment string) (*store.Lease, error) {
	return one(q.queryRow(`SELECT `+leaseCols+` FROM leases WHERE deployment = $1`, deployment), scanLease)
}

// exists reports whether query returns a row.
func exists(q querier, query string, args ...any) (bool, error) {
	var one int
	err := q.queryRow(query, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// readOne runs a one-record read on the read pool.
func readOne[T any](ctx context.Context, d *Driver, fn func(querier) (T, error)) (T, error) {
	var v T
	err := d.read(ctx, func() (err error) {
		v, err = fn(pool{ctx, d})
		return err
	})
	return v, err
}

// Product implements store.Reader.
func (d *Driver) Product(ctx context.Context, id string) (*product.Product, error) {
	return readOne(ctx, d, func(q querier) (*product.Product, error) { return d.product(q, id) })
}

// ProductByName implements store.Reader.
func (d *Driver) ProductByName(ctx context.Context, name string) (*product.Product, error) {
	return readOne(ctx, d, func(q querier) (*product.Product, error) { return d.productByName(q, name) })
}

// Version implements store.Reader.
func (d *Driver) Version(ctx context.Context, id string) (*product.Version, error) {
	return readOne(ctx, d, func(q querier) (*product.Version, error) { return d.version(q, id) })
}

// Template implements store.Reader.
func (d *Driver) Template(ctx context.Context, id string) (*store.Template, error) {
	return readOne(ctx, d, func(q querier) (*store.Template, error) { return d.template(q, id) })
}

// Deployment implements store.Reader.
func (d *Driver) Deployment(ctx context.Context, name string) (*store.Deployment, error) {
	return readOne(ctx, d, func(q querier) (*store.Deployment, error) { return d.deployment(q, name) })
}

// Lease implements store.Reader.
func (d *Driver) Lease(ctx context.Context, deployment string) (*store.Lease, error) {
	return readOne(ctx, d, func(q querier) (*store.Lease, error) { return d.lease(q, deployment) })
}

// ListProducts implements store.Driver.
func (d *Driver) ListProducts(ctx context.Context, q store.ProductList) ([]*product.Product, int, error) {
	var where []string
	var args []any
	if q.Name != "" {
		args = append(args, q.Name)
		where = append(where, "name = $"+strconv.Itoa(len(args)))
	}
	if q.Text != "" {
		args = append(args, q.Text)
		where = append(where, d.dl.Contains("search", "$"+strconv.Itoa(len(args))))
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	order := " ORDER BY created_at, id"
	if q.Newest {
		order = " ORDER BY created_at DESC, id DESC"
	}
	var items []*product.Product
	var total int
	err := d.readTx(ctx, func(tx *sql.Tx) error {
		items = nil
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM products`+cond, args...).Scan(&total); err != nil {
			return err
		}
		if q.Offset >= total {
			return nil
		}
		// The page walks the (created_at, id) index alone and fetches
		// only its own rows.
		n := len(args)
		rows, err := tx.QueryContext(ctx, `SELECT `+d.productCols()+` FROM products
JOIN (SELECT id AS page_id FROM products`+cond+order+` LIMIT $`+strconv.Itoa(n+1)+` OFFSET $`+strconv.Itoa(n+2)+`) AS page
ON products.id = page.page_id`+order, append(args, q.Limit, q.Offset)...)
		items, err = all(scanProduct, rows, err)
		return err
	})
	return items, total, err
}

// ListVersions implements store.Driver.
func (d *Driver) ListVersions(ctx context.Context, productID, contentHash string) ([]*product.Version, error) {
	var res []*product.Version
	err := d.readTx(ctx, func(tx *sql.Tx) error {
		q := snapshot{ctx, tx}
		if ok, err := exists(q, `SELECT 1 FROM products WHERE id = $1`, productID); err != nil || !ok {
			if err == nil {
				err = store.ErrNotFound
			}
			return err
		}
		rows, err := q.query(`SELECT `+d.versionCols()+` FROM versions
WHERE product_id = $1 AND ($2 = '' OR content_hash = $2) ORDER BY created_at, id`, productID, contentHash)
		res, err = all(scanVersion, rows, err)
		return err
	})
	return res, err
}

// ListTemplates implements store.Driver.
func (d *Driver) ListTemplates(ctx context.Context) ([]*store.Template, error) {
	var res []*store.Template
	err := d.read(ctx, func() (err error) {
		rows, err := pool{ctx, d}.query(`SELECT ` + d.templateCols() + ` FROM templates ORDER BY id`)
		res, err = all(scanTemplate, rows, err)
		return err
	})
	return res, err
}

// ListDeployments implements store.Driver.
func (d *Driver) ListDeployments(ctx context.Context, q store.DeploymentQuery) ([]*store.Deployment, error) {
	var res []*store.Deployment
	err := d.read(ctx, func() (err error) {
		rows, err := pool{ctx, d}.query(`SELECT `+d.deploymentCols()+` FROM deployments
WHERE ($1 = '' OR product_id = $1) AND ($2 = '' OR version_id = $2) AND ($3 = '' OR status = $3)
ORDER BY name`, q.ProductID, q.VersionID, string(q.Status))
		res, err = all(scanDeployment, rows, err)
		return err
	})
	return res, err
}

// ListEvents implements store.Driver.
func (d *Driver) ListEvents(ctx context.Context, deployment string, q store.EventQuery) ([]store.Event, error) {
	query := `SELECT ` + eventCols + ` FROM events
WHERE deployment = $1 AND seq > $2 AND ($3 = '' OR operation_id = $3) ORDER BY seq`
	args := []any{deployment, q.AfterSeq, q.OperationID}
	if q.Limit > 0 {
		query += ` LIMIT $4`
		args = append(args, q.Limit)
	}
	var res []store.Event
	err := d.read(ctx, func() error {
		// One statement in the common case: events there are name
		// their deployment. Only an empty answer asks whether the
		// deployment exists.
		q := pool{ctx, d}
		rows, err := q.query(query, args...)
		if res, err = all(scanEvent, rows, err); err != nil || len(res) > 0 {
			return err
		}
		if ok, err := exists(q, `SELECT 1 FROM deployments WHERE name = $1`, deployment); err != nil || !ok {
			if err == nil {
				err = store.ErrNotFound
			}
			return err
		}
		return nil
	})
	return res, err
}
