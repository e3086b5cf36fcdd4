package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/internal/check"
)

// Products

const productCols = `id, name, provider_name, description, product_type, visibility, tags, created_at, updated_at, revision`

type scanner interface{ Scan(...any) error }

func scanProduct(r scanner) (*product.Product, error) {
	var p product.Product
	var tags string
	var created, updated int64
	if err := r.Scan(&p.ID, &p.Name, &p.ProviderName, &p.Description, &p.ProductType, &p.Visibility, &tags, &created, &updated, &p.Revision); err != nil {
		return nil, err
	}
	if err := decode(tags, &p.Tags); err != nil {
		return nil, fmt.Errorf("product %q: tags: %w", p.ID, err)
	}
	p.CreatedAt, p.UpdatedAt = tm(created), tm(updated)
	return &p, nil
}

// CreateProduct implements store.Products.
func (s *Store) CreateProduct(ctx context.Context, p *product.Product) (*product.Product, error) {
	if err := check.Product(p); err != nil {
		return nil, fmt.Errorf("create product: %w", err)
	}
	np := *p
	np.ID = cmp.Or(np.ID, product.NewProductID())
	np.Visibility = cmp.Or(np.Visibility, product.Private)
	tags, err := encode(np.Tags)
	if err != nil {
		return nil, fmt.Errorf("create product %q: %w", np.Name, err)
	}
	err = s.write(ctx, func(t *wtx) error {
		now := s.clock()
		np.CreatedAt, np.UpdatedAt, np.Revision = now, now, 1
		_, err := t.exec(`INSERT INTO products (`+productCols+`, search) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			np.ID, np.Name, np.ProviderName, np.Description, np.ProductType, np.Visibility, tags,
			ts(now), ts(now), 1, check.SearchText(&np))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create product %q: %w", np.Name, err)
	}
	np.Tags = maps.Clone(np.Tags)
	return &np, nil
}

// GetProduct implements store.Products.
func (s *Store) GetProduct(ctx context.Context, idOrName string) (*product.Product, error) {
	if err := check.Key("product", idOrName); err != nil {
		return nil, fmt.Errorf("get product: %w", err)
	}
	var p *product.Product
	err := s.read(ctx, func() error {
		for _, q := range []string{
			`SELECT ` + productCols + ` FROM products WHERE id = ?`,
			`SELECT ` + productCols + ` FROM products WHERE name = ?`,
		} {
			row, err := s.queryRow(ctx, q, idOrName)
			if err != nil {
				return err
			}
			p, err = scanProduct(row)
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		return fmt.Errorf("product %q: %w", idOrName, store.ErrNotFound)
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// ListProducts implements store.Products.
func (s *Store) ListProducts(ctx context.Context, q store.ProductQuery) (*store.ProductPage, error) {
	page, size, err := check.Page(q)
	if err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	var where []string
	var args []any
	if q.Name != "" {
		where = append(where, "name = ?")
		args = append(args, q.Name)
	}
	if q.Text != "" {
		where = append(where, "instr(search, ?) > 0")
		args = append(args, check.SearchQuery(q.Text))
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	order := " ORDER BY created_at, id"
	if q.Newest {
		order = " ORDER BY created_at DESC, id DESC"
	}
	res := &store.ProductPage{Items: []*product.Product{}, Page: page, PageSize: size}
	err = s.read(ctx, func() error {
		res.Items = res.Items[:0]
		// One read transaction, so the count and the page agree.
		tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM products`+cond, args...).Scan(&res.Total); err != nil {
			return err
		}
		offset := (page - 1) * size
		if offset >= res.Total {
			return nil
		}
		// The page walks the (created_at, id) index alone and fetches
		// only its own rows.
		rows, err := tx.QueryContext(ctx, `SELECT `+productCols+` FROM products
JOIN (SELECT rowid AS r FROM products`+cond+order+` LIMIT ? OFFSET ?) AS page ON products.rowid = page.r`+order,
			append(args, size, offset)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			p, err := scanProduct(rows)
			if err != nil {
				return err
			}
			res.Items = append(res.Items, p)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	return res, nil
}

// UpdateProduct implements store.Products.
func (s *Store) UpdateProduct(ctx context.Context, p *product.Product) (*product.Product, error) {
	if err := check.Product(p); err != nil {
		return nil, fmt.Errorf("update product: %w", err)
	}
	if err := check.Key("product_id", p.ID); err != nil {
		return nil, fmt.Errorf("update product: %w", err)
	}
	np := *p
	np.Visibility = cmp.Or(np.Visibility, product.Private)
	tags, err := encode(np.Tags)
	if err != nil {
		return nil, fmt.Errorf("update product %q: %w", np.ID, err)
	}
	err = s.write(ctx, func(t *wtx) error {
		np.UpdatedAt = s.clock()
		var created int64
		err := t.queryRow(`UPDATE products SET name = ?, provider_name = ?, description = ?, product_type = ?,
	visibility = ?, tags = ?, search = ?, updated_at = ?, revision = revision + 1
WHERE id = ? AND revision = ? RETURNING created_at`,
			np.Name, np.ProviderName, np.Description, np.ProductType, np.Visibility, tags, check.SearchText(&np),
			ts(np.UpdatedAt), np.ID, np.Revision).Scan(&created)
		if errors.Is(err, sql.ErrNoRows) {
			return t.unchanged(`SELECT revision FROM products WHERE id = ?`, np.ID, np.Revision)
		}
		np.CreatedAt = tm(created)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("update product %q: %w", np.ID, err)
	}
	np.Revision++
	np.Tags = maps.Clone(np.Tags)
	return &np, nil
}

// changed turns an UPDATE or DELETE that changed nothing into
// ErrNotFound or ErrConflict: revisionQuery reads the stored revision.
func (t *wtx) changed(res sql.Result, revisionQuery string, key string, revision int64) error {
	n, err := res.RowsAffected()
	if err != nil || n == 1 {
		return err
	}
	return t.unchanged(revisionQuery, key, revision)
}

// unchanged says why a write guarded by a revision changed nothing.
func (t *wtx) unchanged(revisionQuery string, key string, revision int64) error {
	var stored int64
	err := t.queryRow(revisionQuery, key).Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("at revision %d (stored %d): %w", revision, stored, store.ErrConflict)
}

// DeleteProduct implements store.Products.
func (s *Store) DeleteProduct(ctx context.Context, id string) error {
	if err := check.Key("product_id", id); err != nil {
		return fmt.Errorf("delete product: %w", err)
	}
	err := s.write(ctx, func(t *wtx) error {
		var name string
		err := t.queryRow(`SELECT name FROM deployments WHERE product_id = ? LIMIT 1`, id).Scan(&name)
		switch {
		case err == nil:
			return fmt.Errorf("deployment %q: %w", name, store.ErrInUse)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		res, err := t.exec(`DELETE FROM products WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmp.Or(err, store.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete product %q: %w", id, err)
	}
	return nil
}

// Versions

const versionCols = `id, product_id, name, description, guidance, active, stack_deps, template_url, content_hash, created_at, updated_at, revision`

func scanVersion(r scanner) (*product.Version, error) {
	var v product.Version
	var deps string
	var created, updated int64
	if err := r.Scan(&v.ID, &v.ProductID, &v.Name, &v.Description, &v.Guidance, &v.Active, &deps, &v.TemplateURL, &v.ContentHash, &created, &updated, &v.Revision); err != nil {
		return nil, err
	}
	if err := decode(deps, &v.StackDeps); err != nil {
		return nil, fmt.Errorf("version %q: stack_deps: %w", v.ID, err)
	}
	v.CreatedAt, v.UpdatedAt = tm(created), tm(updated)
	return &v, nil
}

// CreateVersion implements store.Versions.
func (s *Store) CreateVersion(ctx context.Context, v *product.Version) (*product.Version, error) {
	if err := check.Version(v, s.rules); err != nil {
		return nil, fmt.Errorf("create version: %w", err)
	}
	nv := *v
	nv.ID = cmp.Or(nv.ID, product.NewVersionID())
	nv.Guidance = cmp.Or(nv.Guidance, product.GuidanceDefault)
	err := s.write(ctx, func(t *wtx) error {
		if ok, err := t.exists(`SELECT 1 FROM products WHERE id = ?`, nv.ProductID); err != nil || !ok {
			return cmp.Or(err, fmt.Errorf("product %q: %w", nv.ProductID, store.ErrNotFound))
		}
		var deps string
		if nv.TemplateURL != "" {
			id, _ := check.TemplateID("template_url", nv.TemplateURL)
			var hash string
			err := t.queryRow(`SELECT stack_deps, content_hash FROM templates WHERE id = ?`, id).Scan(&deps, &hash)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("template %q: %w", nv.TemplateURL, store.ErrNotFound)
			}
			if err != nil {
				return err
			}
			if len(nv.StackDeps) > 0 && product.Hash(nv.StackDeps) != hash {
				return store.Invalid("stack_deps", nil, "differs from the spec of template "+nv.TemplateURL)
			}
			nv.ContentHash = hash
		}
		if deps == "" || len(nv.StackDeps) > 0 {
			var err error
			if deps, err = encode(nv.StackDeps); err != nil {
				return err
			}
			nv.ContentHash = product.Hash(nv.StackDeps)
		}
		now := s.clock()
		nv.CreatedAt, nv.UpdatedAt, nv.Revision = now, now, 1
		nv.StackDeps = nil
		if err := decode(deps, &nv.StackDeps); err != nil {
			return err
		}
		_, err := t.exec(`INSERT INTO versions (`+versionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
			nv.ID, nv.ProductID, nv.Name, nv.Description, nv.Guidance, nv.Active, deps, nv.TemplateURL, nv.ContentHash, ts(now), ts(now))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create version %q: %w", nv.Name, err)
	}
	return &nv, nil
}

// GetVersion implements store.Versions.
func (s *Store) GetVersion(ctx context.Context, id string) (*product.Version, error) {
	if err := check.Key("product_version_id", id); err != nil {
		return nil, fmt.Errorf("get version: %w", err)
	}
	var v *product.Version
	err := s.read(ctx, func() error {
		row, err := s.queryRow(ctx, `SELECT `+versionCols+` FROM versions WHERE id = ?`, id)
		if err != nil {
			return err
		}
		v, err = scanVersion(row)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("version %q: %w", id, store.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// ListVersions implements store.Versions.
func (s *Store) ListVersions(ctx context.Context, productID string, q store.VersionQuery) ([]*product.Version, error) {
	if err := check.Key("product_id", productID); err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	if err := check.OptionalKey("content_hash", q.ContentHash); err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	var res []*product.Version
	err := s.read(ctx, func() error {
		res = []*product.Version{}
		tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return err
		}
		defer tx.Rollback()
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM products WHERE id = ?`, productID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("product %q: %w", productID, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+versionCols+` FROM versions
WHERE product_id = ? AND (? = '' OR content_hash = ?) ORDER BY created_at, id`, productID, q.ContentHash, q.ContentHash)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			v, err := scanVersion(rows)
			if err != nil {
				return err
			}
			res = append(res, v)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	return res, nil
}

// UpdateVersion implements store.Versions.
func (s *Store) UpdateVersion(ctx context.Context, v *product.Version) (*product.Version, error) {
	if err := check.VersionUpdate(v); err != nil {
		return nil, fmt.Errorf("update version: %w", err)
	}
	var nv *product.Version
	err := s.write(ctx, func(t *wtx) error {
		old, err := scanVersion(t.queryRow(`SELECT `+versionCols+` FROM versions WHERE id = ?`, v.ID))
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if old.Revision != v.Revision {
			return fmt.Errorf("at revision %d (stored %d): %w", v.Revision, old.Revision, store.ErrConflict)
		}
		if err := check.Immutable(old, v); err != nil {
			return err
		}
		nv = old
		nv.Guidance, nv.Active, nv.Description = cmp.Or(v.Guidance, product.GuidanceDefault), v.Active, v.Description
		nv.UpdatedAt = s.clock()
		nv.Revision++
		_, err = t.exec(`UPDATE versions SET guidance = ?, active = ?, description = ?, updated_at = ?, revision = revision + 1
WHERE id = ? AND revision = ?`,
			nv.Guidance, nv.Active, nv.Description, ts(nv.UpdatedAt), v.ID, v.Revision)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("update version %q: %w", v.ID, err)
	}
	return nv, nil
}

// DeleteVersion implements store.Versions.
func (s *Store) DeleteVersion(ctx context.Context, id string) error {
	if err := check.Key("product_version_id", id); err != nil {
		return fmt.Errorf("delete version: %w", err)
	}
	err := s.write(ctx, func(t *wtx) error {
		var name string
		err := t.queryRow(`SELECT name FROM deployments WHERE version_id = ?1 OR target_version_id = ?1 LIMIT 1`, id).Scan(&name)
		switch {
		case err == nil:
			return fmt.Errorf("deployment %q: %w", name, store.ErrInUse)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		res, err := t.exec(`DELETE FROM versions WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmp.Or(err, store.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete version %q: %w", id, err)
	}
	return nil
}

// Templates

// CreateTemplate implements store.Templates.
func (s *Store) CreateTemplate(ctx context.Context, t *store.Template) (*store.Template, error) {
	if err := check.Template(t, s.rules); err != nil {
		return nil, fmt.Errorf("create template: %w", err)
	}
	nt := *t
	nt.ID = cmp.Or(nt.ID, product.NewTemplateID())
	nt.URL = store.TemplateURLPrefix + nt.ID
	nt.ContentHash = product.Hash(nt.StackDeps)
	deps, err := encode(nt.StackDeps)
	if err != nil {
		return nil, fmt.Errorf("create template: %w", err)
	}
	nt.StackDeps = nil
	if err := decode(deps, &nt.StackDeps); err != nil {
		return nil, fmt.Errorf("create template: %w", err)
	}
	err = s.write(ctx, func(tx *wtx) error {
		nt.CreatedAt = s.clock()
		_, err := tx.exec(`INSERT INTO templates (id, description, stack_deps, content_hash, created_at) VALUES (?, ?, ?, ?, ?)`,
			nt.ID, nt.Description, deps, nt.ContentHash, ts(nt.CreatedAt))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create template %q: %w", nt.ID, err)
	}
	return &nt, nil
}

// GetTemplate implements store.Templates.
func (s *Store) GetTemplate(ctx context.Context, idOrURL string) (*store.Template, error) {
	id, err := check.TemplateID("template", idOrURL)
	if err != nil {
		return nil, fmt.Errorf("get template: %w", err)
	}
	var t store.Template
	err = s.read(ctx, func() error {
		row, err := s.queryRow(ctx, `SELECT id, description, stack_deps, content_hash, created_at FROM templates WHERE id = ?`, id)
		if err != nil {
			return err
		}
		var deps string
		var created int64
		err = row.Scan(&t.ID, &t.Description, &deps, &t.ContentHash, &created)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("template %q: %w", idOrURL, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		t.URL, t.CreatedAt = store.TemplateURLPrefix+t.ID, tm(created)
		return decode(deps, &t.StackDeps)
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// Deployments

const deploymentCols = `name, product_id, version_id, target_version_id, runtime, status, parameters, stacks, operations, created_at, updated_at, revision`

func scanDeployment(r scanner) (*store.Deployment, error) {
	var d store.Deployment
	var params, stacks, ops string
	var created, updated int64
	if err := r.Scan(&d.Name, &d.ProductID, &d.VersionID, nullString{&d.TargetVersionID}, &d.Runtime, &d.Status,
		&params, &stacks, &ops, &created, &updated, &d.Revision); err != nil {
		return nil, err
	}
	if err := errors.Join(decode(params, &d.Parameters), decode(stacks, &d.Stacks), decode(ops, &d.Operations)); err != nil {
		return nil, fmt.Errorf("deployment %q: %w", d.Name, err)
	}
	d.CreatedAt, d.UpdatedAt = tm(created), tm(updated)
	return &d, nil
}

// deploymentJSON encodes the JSON columns of a deployment.
func deploymentJSON(d *store.Deployment) (params, stacks, ops string, err error) {
	if params, err = encode(d.Parameters); err != nil {
		return
	}
	if stacks, err = encode(d.Stacks); err != nil {
		return
	}
	ops, err = encode(d.Operations)
	return
}

// refs checks that the product and versions d names exist and belong
// together.
func (t *wtx) refs(d *store.Deployment) error {
	if ok, err := t.exists(`SELECT 1 FROM products WHERE id = ?`, d.ProductID); err != nil || !ok {
		return cmp.Or(err, fmt.Errorf("product %q: %w", d.ProductID, store.ErrNotFound))
	}
	for _, r := range [...]struct{ field, id string }{{"version", d.VersionID}, {"target version", d.TargetVersionID}} {
		if r.id == "" {
			continue
		}
		var pid string
		err := t.queryRow(`SELECT product_id FROM versions WHERE id = ?`, r.id).Scan(&pid)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%s %q: %w", r.field, r.id, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if err := check.VersionBelongs(r.field, r.id, pid, d.ProductID); err != nil {
			return err
		}
	}
	return nil
}

// CreateDeployment implements store.Deployments.
func (s *Store) CreateDeployment(ctx context.Context, d *store.Deployment) (*store.Deployment, error) {
	if err := check.Deployment(d); err != nil {
		return nil, fmt.Errorf("create deployment: %w", err)
	}
	nd := *d
	nd.Status = cmp.Or(nd.Status, store.StatusUnderChange)
	nd.Operations = check.TrimOperations(nd.Operations, s.maxOps)
	params, stacks, ops, err := deploymentJSON(&nd)
	if err != nil {
		return nil, fmt.Errorf("create deployment %q: %w", nd.Name, err)
	}
	err = s.write(ctx, func(t *wtx) error {
		if ok, err := t.exists(`SELECT 1 FROM deployments WHERE name = ?`, nd.Name); err != nil || ok {
			return cmp.Or(err, store.ErrAlreadyExists)
		}
		if err := t.refs(&nd); err != nil {
			return err
		}
		now := s.clock()
		nd.CreatedAt, nd.UpdatedAt, nd.Revision = now, now, 1
		_, err := t.exec(`INSERT INTO deployments (`+deploymentCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
			nd.Name, nd.ProductID, nd.VersionID, nullable(nd.TargetVersionID), nd.Runtime, nd.Status,
			params, stacks, ops, ts(now), ts(now))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create deployment %q: %w", nd.Name, err)
	}
	return decodeDeployment(&nd, params, stacks, ops)
}

// decodeDeployment returns d with the JSON fields it was stored with,
// sharing nothing with the caller's record.
func decodeDeployment(d *store.Deployment, params, stacks, ops string) (*store.Deployment, error) {
	c := *d
	c.Parameters, c.Stacks, c.Operations = nil, nil, nil
	if err := errors.Join(decode(params, &c.Parameters), decode(stacks, &c.Stacks), decode(ops, &c.Operations)); err != nil {
		return nil, fmt.Errorf("deployment %q: %w", d.Name, err)
	}
	return &c, nil
}

// GetDeployment implements store.Deployments.
func (s *Store) GetDeployment(ctx context.Context, name string) (*store.Deployment, error) {
	if err := check.DeploymentName("name", name); err != nil {
		return nil, fmt.Errorf("get deployment: %w", err)
	}
	var d *store.Deployment
	err := s.read(ctx, func() error {
		row, err := s.queryRow(ctx, `SELECT `+deploymentCols+` FROM deployments WHERE name = ?`, name)
		if err != nil {
			return err
		}
		d, err = scanDeployment(row)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("deployment %q: %w", name, store.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// ListDeployments implements store.Deployments.
func (s *Store) ListDeployments(ctx context.Context, q store.DeploymentQuery) ([]*store.Deployment, error) {
	if err := check.DeploymentQuery(q); err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	var res []*store.Deployment
	err := s.read(ctx, func() error {
		res = []*store.Deployment{}
		rows, err := s.query(ctx, `SELECT `+deploymentCols+` FROM deployments
WHERE (?1 = '' OR product_id = ?1) AND (?2 = '' OR version_id = ?2) AND (?3 = '' OR status = ?3)
ORDER BY name`, q.ProductID, q.VersionID, string(q.Status))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scanDeployment(rows)
			if err != nil {
				return err
			}
			res = append(res, d)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	return res, nil
}

// UpdateDeployment implements store.Deployments.
func (s *Store) UpdateDeployment(ctx context.Context, d *store.Deployment) (*store.Deployment, error) {
	if err := check.Deployment(d); err != nil {
		return nil, fmt.Errorf("update deployment: %w", err)
	}
	nd := *d
	nd.Status = cmp.Or(nd.Status, store.StatusUnderChange)
	nd.Operations = check.TrimOperations(nd.Operations, s.maxOps)
	params, stacks, ops, err := deploymentJSON(&nd)
	if err != nil {
		return nil, fmt.Errorf("update deployment %q: %w", nd.Name, err)
	}
	err = s.write(ctx, func(t *wtx) error {
		var productID string
		var revision, created int64
		err := t.queryRow(`SELECT product_id, revision, created_at FROM deployments WHERE name = ?`, nd.Name).Scan(&productID, &revision, &created)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return store.ErrNotFound
		case err != nil:
			return err
		case revision != nd.Revision:
			return fmt.Errorf("at revision %d (stored %d): %w", nd.Revision, revision, store.ErrConflict)
		case productID != nd.ProductID:
			return store.Invalid("product_id", nd.ProductID, "is immutable")
		}
		if err := t.refs(&nd); err != nil {
			return err
		}
		nd.CreatedAt, nd.UpdatedAt = tm(created), s.clock()
		res, err := t.exec(`UPDATE deployments SET version_id = ?, target_version_id = ?, runtime = ?, status = ?,
	parameters = ?, stacks = ?, operations = ?, updated_at = ?, revision = revision + 1
WHERE name = ? AND revision = ?`,
			nd.VersionID, nullable(nd.TargetVersionID), nd.Runtime, nd.Status, params, stacks, ops,
			ts(nd.UpdatedAt), nd.Name, nd.Revision)
		if err != nil {
			return err
		}
		return t.changed(res, `SELECT revision FROM deployments WHERE name = ?`, nd.Name, nd.Revision)
	})
	if err != nil {
		return nil, fmt.Errorf("update deployment %q: %w", nd.Name, err)
	}
	nd.Revision++
	return decodeDeployment(&nd, params, stacks, ops)
}

// DeleteDeployment implements store.Deployments.
func (s *Store) DeleteDeployment(ctx context.Context, name string, revision int64) error {
	if err := check.DeploymentName("name", name); err != nil {
		return fmt.Errorf("delete deployment: %w", err)
	}
	err := s.write(ctx, func(t *wtx) error {
		res, err := t.exec(`DELETE FROM deployments WHERE name = ? AND revision = ?`, name, revision)
		if err != nil {
			return err
		}
		if err := t.changed(res, `SELECT revision FROM deployments WHERE name = ?`, name, revision); err != nil {
			return err
		}
		_, err = t.exec(`DELETE FROM leases WHERE deployment = ?`, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete deployment %q: %w", name, err)
	}
	return nil
}

// AppendEvents implements store.Deployments.
func (s *Store) AppendEvents(ctx context.Context, deployment string, events ...store.Event) error {
	if err := check.DeploymentName("deployment", deployment); err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	if err := check.Events(events); err != nil {
		return fmt.Errorf("append events to %q: %w", deployment, err)
	}
	err := s.write(ctx, func(t *wtx) error {
		var last int64
		err := t.queryRow(`UPDATE deployments SET event_seq = event_seq + ? WHERE name = ? RETURNING event_seq`,
			len(events), deployment).Scan(&last)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("deployment %q: %w", deployment, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		now := s.clock()
		seq := last - int64(len(events))
		for _, e := range events {
			seq++
			if e.Time.IsZero() {
				e.Time = now
			}
			if _, err := t.exec(`INSERT INTO events (deployment, seq, operation_id, time, type, stack, service, message)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				deployment, seq, e.OperationID, e.Time.UTC().Format(time.RFC3339Nano), e.Type, e.Stack, e.Service, e.Message); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("append events to %q: %w", deployment, err)
	}
	return nil
}

// ListEvents implements store.Deployments.
func (s *Store) ListEvents(ctx context.Context, deployment string, q store.EventQuery) ([]store.Event, error) {
	if err := check.DeploymentName("deployment", deployment); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	if err := check.EventQuery(q); err != nil {
		return nil, fmt.Errorf("list events of %q: %w", deployment, err)
	}
	limit := int64(q.Limit)
	if limit == 0 {
		limit = -1 // no limit
	}
	var res []store.Event
	err := s.read(ctx, func() error {
		res = []store.Event{}
		tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return err
		}
		defer tx.Rollback()
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM deployments WHERE name = ?`, deployment).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("deployment %q: %w", deployment, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT seq, operation_id, time, type, stack, service, message FROM events
WHERE deployment = ? AND seq > ? AND (? = '' OR operation_id = ?) ORDER BY seq LIMIT ?`,
			deployment, q.AfterSeq, q.OperationID, q.OperationID, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e store.Event
			var at string
			if err := rows.Scan(&e.Seq, &e.OperationID, &at, &e.Type, &e.Stack, &e.Service, &e.Message); err != nil {
				return err
			}
			if e.Time, err = time.Parse(time.RFC3339Nano, at); err != nil {
				return fmt.Errorf("event %d: %w", e.Seq, err)
			}
			res = append(res, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list events of %q: %w", deployment, err)
	}
	return res, nil
}

// Leases

// AcquireLease implements store.Leases.
func (s *Store) AcquireLease(ctx context.Context, deployment, owner string, ttl time.Duration) (*store.Lease, error) {
	if err := check.Lease(deployment, owner, ttl); err != nil {
		return nil, fmt.Errorf("acquire lease: %w", err)
	}
	var l store.Lease
	err := s.write(ctx, func(t *wtx) error {
		now := s.clock()
		var holder string
		var acquired, expires int64
		err := t.queryRow(`SELECT owner, acquired_at, expires_at FROM leases WHERE deployment = ?`, deployment).Scan(&holder, &acquired, &expires)
		switch {
		case errors.Is(err, sql.ErrNoRows) || err == nil && expires <= ts(now):
			acquired = ts(now)
		case err != nil:
			return err
		case holder != owner:
			return &store.LeaseHeldError{Deployment: deployment, Owner: holder, ExpiresAt: tm(expires)}
		}
		l = store.Lease{Deployment: deployment, Owner: owner, AcquiredAt: tm(acquired), ExpiresAt: now.Add(ttl)}
		_, err = t.exec(`INSERT INTO leases (deployment, owner, acquired_at, expires_at) VALUES (?, ?, ?, ?)
ON CONFLICT (deployment) DO UPDATE SET owner = excluded.owner, acquired_at = excluded.acquired_at, expires_at = excluded.expires_at`,
			deployment, owner, acquired, ts(l.ExpiresAt))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("acquire lease on %q for %q: %w", deployment, owner, err)
	}
	return &l, nil
}

// ReleaseLease implements store.Leases.
func (s *Store) ReleaseLease(ctx context.Context, deployment, owner string) error {
	if err := check.DeploymentName("deployment", deployment); err != nil {
		return fmt.Errorf("release lease: %w", err)
	}
	if err := check.Key("owner", owner); err != nil {
		return fmt.Errorf("release lease: %w", err)
	}
	err := s.write(ctx, func(t *wtx) error {
		var holder string
		var expires int64
		err := t.queryRow(`SELECT owner, expires_at FROM leases WHERE deployment = ?`, deployment).Scan(&holder, &expires)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return store.ErrNotFound
		case err != nil:
			return err
		case holder != owner:
			return &store.LeaseHeldError{Deployment: deployment, Owner: holder, ExpiresAt: tm(expires)}
		}
		_, err = t.exec(`DELETE FROM leases WHERE deployment = ?`, deployment)
		return err
	})
	if err != nil {
		return fmt.Errorf("release lease on %q for %q: %w", deployment, owner, err)
	}
	return nil
}

// GetLease implements store.Leases.
func (s *Store) GetLease(ctx context.Context, deployment string) (*store.Lease, error) {
	if err := check.DeploymentName("deployment", deployment); err != nil {
		return nil, fmt.Errorf("get lease: %w", err)
	}
	l := store.Lease{Deployment: deployment}
	err := s.read(ctx, func() error {
		row, err := s.queryRow(ctx, `SELECT owner, acquired_at, expires_at FROM leases WHERE deployment = ?`, deployment)
		if err != nil {
			return err
		}
		var acquired, expires int64
		err = row.Scan(&l.Owner, &acquired, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("lease on %q: %w", deployment, store.ErrNotFound)
		}
		l.AcquiredAt, l.ExpiresAt = tm(acquired), tm(expires)
		l.Expired = !s.clock().Before(l.ExpiresAt)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &l, nil
}
