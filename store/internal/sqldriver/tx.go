package sqldriver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/store"
)

// tx is a write transaction on one connection.
type tx struct {
	ctx   context.Context
	d     *Driver
	conn  *sql.Conn
	cache map[string]*sql.Stmt // nil: statements are not cached
}

var (
	_ store.Tx    = (*tx)(nil)
	_ store.Clock = (*tx)(nil)
)

func (t *tx) stmt(query string) (*sql.Stmt, error) {
	if st, ok := t.cache[query]; ok {
		return st, nil
	}
	st, err := t.conn.PrepareContext(t.ctx, query)
	if err != nil {
		return nil, err
	}
	t.cache[query] = st
	return st, nil
}

func (t *tx) exec(query string, args ...any) (sql.Result, error) {
	if t.cache == nil {
		return t.conn.ExecContext(t.ctx, query, args...)
	}
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(t.ctx, args...)
}

func (t *tx) queryRow(query string, args ...any) row {
	if t.cache == nil {
		return t.conn.QueryRowContext(t.ctx, query, args...)
	}
	st, err := t.stmt(query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(t.ctx, args...)
}

func (t *tx) query(query string, args ...any) (*sql.Rows, error) {
	if t.cache == nil {
		return t.conn.QueryContext(t.ctx, query, args...)
	}
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(t.ctx, args...)
}

// mapped maps a constraint error of a write; what a foreign-key violation
// means depends on the write (fk).
func (t *tx) mapped(err error, fk error) error {
	switch t.d.dl.Classify(err) {
	case Unique:
		return fmt.Errorf("%w (%v)", store.ErrAlreadyExists, err)
	case ForeignKey:
		return fmt.Errorf("%w (%v)", fk, err)
	}
	return err
}

// changed turns a guarded write that changed no row into ErrConflict.
func changed(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrConflict
	}
	return nil
}

// Now implements store.Clock with the server's clock.
func (t *tx) Now(context.Context) (time.Time, error) {
	if t.d.dl.Now == "" {
		return time.Time{}, errors.ErrUnsupported
	}
	var now time.Time
	err := t.queryRow(t.d.dl.Now).Scan(&now)
	return now, err
}

func (t *tx) Product(_ context.Context, id string) (*product.Product, error) {
	return t.d.product(t, id)
}
func (t *tx) ProductByName(_ context.Context, name string) (*product.Product, error) {
	return t.d.productByName(t, name)
}
func (t *tx) Version(_ context.Context, id string) (*product.Version, error) {
	return t.d.version(t, id)
}
func (t *tx) Template(_ context.Context, id string) (*store.Template, error) {
	return t.d.template(t, id)
}
func (t *tx) Deployment(_ context.Context, name string) (*store.Deployment, error) {
	return t.d.deployment(t, name)
}
func (t *tx) Lease(_ context.Context, deployment string) (*store.Lease, error) {
	return t.d.lease(t, deployment)
}

func (t *tx) InUse(_ context.Context, productID, versionID string) (string, error) {
	var name string
	err := t.queryRow(`SELECT name FROM deployments
WHERE ($1 <> '' AND product_id = $1) OR ($2 <> '' AND (version_id = $2 OR target_version_id = $2))
ORDER BY name LIMIT 1`, productID, versionID).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return name, err
}

func (t *tx) InsertProduct(_ context.Context, p *product.Product) error {
	tags, err := encode(p.Tags)
	if err != nil {
		return err
	}
	tm := t.d.dl.Time
	_, err = t.exec(`INSERT INTO products (id, name, provider_name, description, product_type, visibility, tags,
	created_at, updated_at, revision, search) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		p.ID, p.Name, p.ProviderName, p.Description, p.ProductType, p.Visibility, tags,
		tm(p.CreatedAt), tm(p.UpdatedAt), p.Revision, store.SearchText(p))
	return t.mapped(err, store.ErrNotFound)
}

func (t *tx) UpdateProduct(_ context.Context, p *product.Product, revision int64) error {
	tags, err := encode(p.Tags)
	if err != nil {
		return err
	}
	tm := t.d.dl.Time
	res, err := t.exec(`UPDATE products SET name = $1, provider_name = $2, description = $3, product_type = $4,
	visibility = $5, tags = $6, search = $7, created_at = $8, updated_at = $9, revision = $10
WHERE id = $11 AND revision = $12`,
		p.Name, p.ProviderName, p.Description, p.ProductType, p.Visibility, tags, store.SearchText(p),
		tm(p.CreatedAt), tm(p.UpdatedAt), p.Revision, p.ID, revision)
	return changed(res, t.mapped(err, store.ErrNotFound))
}

func (t *tx) DeleteProduct(_ context.Context, id string) error {
	res, err := t.exec(`DELETE FROM products WHERE id = $1`, id)
	if err = changed(res, t.mapped(err, store.ErrInUse)); errors.Is(err, store.ErrConflict) {
		return store.ErrNotFound
	}
	return err
}

func (t *tx) InsertVersion(_ context.Context, v *product.Version) error {
	deps, err := encode(v.StackDeps)
	if err != nil {
		return err
	}
	tm := t.d.dl.Time
	_, err = t.exec(`INSERT INTO versions (id, product_id, name, description, guidance, active, stack_deps,
	template_url, content_hash, created_at, updated_at, revision) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		v.ID, v.ProductID, v.Name, v.Description, v.Guidance, v.Active, deps, v.TemplateURL, v.ContentHash,
		tm(v.CreatedAt), tm(v.UpdatedAt), v.Revision)
	return t.mapped(err, store.ErrNotFound)
}

func (t *tx) UpdateVersion(_ context.Context, v *product.Version, revision int64) error {
	deps, err := encode(v.StackDeps)
	if err != nil {
		return err
	}
	res, err := t.exec(`UPDATE versions SET guidance = $1, active = $2, description = $3, stack_deps = $4,
	updated_at = $5, revision = $6 WHERE id = $7 AND revision = $8`,
		v.Guidance, v.Active, v.Description, deps, t.d.dl.Time(v.UpdatedAt), v.Revision, v.ID, revision)
	return changed(res, err)
}

func (t *tx) DeleteVersion(_ context.Context, id string) error {
	res, err := t.exec(`DELETE FROM versions WHERE id = $1`, id)
	if err = changed(res, t.mapped(err, store.ErrInUse)); errors.Is(err, store.ErrConflict) {
		return store.ErrNotFound
	}
	return err
}

func (t *tx) InsertTemplate(_ context.Context, tpl *store.Template) error {
	deps, err := encode(tpl.StackDeps)
	if err != nil {
		return err
	}
	_, err = t.exec(`INSERT INTO templates (id, description, stack_deps, content_hash, created_at) VALUES ($1, $2, $3, $4, $5)`,
		tpl.ID, tpl.Description, deps, tpl.ContentHash, t.d.dl.Time(tpl.CreatedAt))
	return t.mapped(err, store.ErrNotFound)
}

func (t *tx) UpdateTemplate(_ context.Context, tpl *store.Template) error {
	deps, err := encode(tpl.StackDeps)
	if err != nil {
		return err
	}
	res, err := t.exec(`UPDATE templates SET stack_deps = $1 WHERE id = $2`, deps, tpl.ID)
	if err = changed(res, err); errors.Is(err, store.ErrConflict) {
		return store.ErrNotFound
	}
	return err
}

// deploymentJSON encodes the JSON columns of a deployment.
func deploymentJSON(x *store.Deployment) (params, stacks, ops, vols string, err error) {
	if params, err = encode(x.Parameters); err != nil {
		return
	}
	if stacks, err = encode(x.Stacks); err != nil {
		return
	}
	if ops, err = encode(x.Operations); err != nil {
		return
	}
	vols, err = encode(x.VolumeStacks)
	return
}

func (t *tx) InsertDeployment(_ context.Context, x *store.Deployment) error {
	params, stacks, ops, vols, err := deploymentJSON(x)
	if err != nil {
		return err
	}
	tm := t.d.dl.Time
	_, err = t.exec(`INSERT INTO deployments (name, product_id, version_id, target_version_id, runtime, status,
	parameters, stacks, operations, volume_stacks, created_at, updated_at, revision)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		x.Name, x.ProductID, x.VersionID, nullable(x.TargetVersionID), x.Runtime, x.Status,
		params, stacks, ops, vols, tm(x.CreatedAt), tm(x.UpdatedAt), x.Revision)
	return t.mapped(err, store.ErrNotFound)
}

func (t *tx) UpdateDeployment(_ context.Context, x *store.Deployment, revision int64) error {
	params, stacks, ops, vols, err := deploymentJSON(x)
	if err != nil {
		return err
	}
	tm := t.d.dl.Time
	res, err := t.exec(`UPDATE deployments SET version_id = $1, target_version_id = $2, runtime = $3, status = $4,
	parameters = $5, stacks = $6, operations = $7, volume_stacks = $8, updated_at = $9, revision = $10
WHERE name = $11 AND revision = $12`,
		x.VersionID, nullable(x.TargetVersionID), x.Runtime, x.Status, params, stacks, ops, vols,
		tm(x.UpdatedAt), x.Revision, x.Name, revision)
	return changed(res, t.mapped(err, store.ErrNotFound))
}

func (t *tx) DeleteDeployment(_ context.Context, name string) error {
	if _, err := t.exec(`DELETE FROM events WHERE deployment = $1`, name); err != nil {
		return err
	}
	if _, err := t.exec(`DELETE FROM leases WHERE deployment = $1`, name); err != nil {
		return err
	}
	res, err := t.exec(`DELETE FROM deployments WHERE name = $1`, name)
	if err = changed(res, err); errors.Is(err, store.ErrConflict) {
		return store.ErrNotFound
	}
	return err
}

func (t *tx) AppendEvents(_ context.Context, deployment string, events []store.Event) error {
	var last int64
	err := t.queryRow(`UPDATE deployments SET event_seq = event_seq + $1 WHERE name = $2 RETURNING event_seq`,
		len(events), deployment).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	if err != nil {
		return err
	}
	seq := last - int64(len(events))
	for len(events) > 0 {
		n := min(len(events), max(t.d.dl.EventRows, 1))
		var b strings.Builder
		b.WriteString(`INSERT INTO events (deployment, seq, operation_id, time, type, stack, service, message) VALUES `)
		args := make([]any, 0, 8*n)
		for i, e := range events[:n] {
			seq++
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(")
			for c := range 8 {
				if c > 0 {
					b.WriteString(", ")
				}
				if t.d.dl.Param != nil {
					b.WriteString(t.d.dl.Param(8*i + c + 1))
				} else {
					b.WriteString("$" + strconv.Itoa(8*i+c+1))
				}
			}
			b.WriteString(")")
			args = append(args, deployment, seq, e.OperationID, t.d.dl.EventTime(e.Time), e.Type, e.Stack, e.Service, e.Message)
		}
		if _, err := t.exec(b.String(), args...); err != nil {
			return err
		}
		events = events[n:]
	}
	return nil
}

func (t *tx) PutLease(_ context.Context, l, prev *store.Lease) error {
	tm := t.d.dl.Time
	if prev == nil {
		_, err := t.exec(`INSERT INTO leases (deployment, owner, acquired_at, expires_at) VALUES ($1, $2, $3, $4)`,
			l.Deployment, l.Owner, tm(l.AcquiredAt), tm(l.ExpiresAt))
		if t.d.dl.Classify(err) == Unique {
			return store.ErrConflict
		}
		return err
	}
	res, err := t.exec(`UPDATE leases SET owner = $1, acquired_at = $2, expires_at = $3
WHERE deployment = $4 AND owner = $5 AND expires_at = $6`,
		l.Owner, tm(l.AcquiredAt), tm(l.ExpiresAt), l.Deployment, prev.Owner, tm(prev.ExpiresAt))
	return changed(res, err)
}

func (t *tx) DeleteLease(_ context.Context, prev *store.Lease) error {
	res, err := t.exec(`DELETE FROM leases WHERE deployment = $1 AND owner = $2 AND expires_at = $3`,
		prev.Deployment, prev.Owner, t.d.dl.Time(prev.ExpiresAt))
	return changed(res, err)
}
