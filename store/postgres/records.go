package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/internal/check"
)

// Products

const (
	productCols = `id, name, provider_name, description, product_type, visibility, tags, created_at, updated_at, revision`
	productSel  = `id, name, provider_name, description, product_type, visibility, tags::text, created_at, updated_at, revision`
)

func scanProduct(r pgx.Row) (*product.Product, error) {
	var p product.Product
	var tags string
	if err := r.Scan(&p.ID, &p.Name, &p.ProviderName, &p.Description, &p.ProductType, &p.Visibility, &tags, &p.CreatedAt, &p.UpdatedAt, &p.Revision); err != nil {
		return nil, err
	}
	if err := decode(tags, &p.Tags); err != nil {
		return nil, fmt.Errorf("product %q: tags: %w", p.ID, err)
	}
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
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
	np.Tags = maps.Clone(np.Tags)
	tags, err := encode(np.Tags)
	if err != nil {
		return nil, fmt.Errorf("create product %q: %w", np.Name, err)
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	err = s.pool.QueryRow(ctx, `INSERT INTO products (`+productCols+`, search)
VALUES ($1, $2, $3, $4, $5, $6, $7, now(), now(), 1, $8) RETURNING created_at`,
		np.ID, np.Name, np.ProviderName, np.Description, np.ProductType, np.Visibility, tags, check.SearchText(&np),
	).Scan(&np.CreatedAt)
	if err != nil {
		return nil, fmt.Errorf("create product %q: %w", np.Name, s.mapErr(ctx, err, false))
	}
	np.CreatedAt = np.CreatedAt.UTC()
	np.UpdatedAt, np.Revision = np.CreatedAt, 1
	return &np, nil
}

// GetProduct implements store.Products.
func (s *Store) GetProduct(ctx context.Context, idOrName string) (*product.Product, error) {
	if err := check.Key("product", idOrName); err != nil {
		return nil, fmt.Errorf("get product: %w", err)
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	p, err := scanProduct(s.pool.QueryRow(ctx, `SELECT `+productSel+` FROM products WHERE id = $1`, idOrName))
	if errors.Is(err, pgx.ErrNoRows) {
		p, err = scanProduct(s.pool.QueryRow(ctx, `SELECT `+productSel+` FROM products WHERE name = $1`, idOrName))
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("product %q: %w", idOrName, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get product %q: %w", idOrName, s.mapErr(ctx, err, false))
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
	args := pgx.NamedArgs{}
	if q.Name != "" {
		where = append(where, "name = @name")
		args["name"] = q.Name
	}
	if q.Text != "" {
		where = append(where, "strpos(search, @text) > 0")
		args["text"] = check.SearchQuery(q.Text)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	order := " ORDER BY created_at, id"
	if q.Newest {
		order = " ORDER BY created_at DESC, id DESC"
	}
	args["limit"], args["offset"] = size, (page-1)*size
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	res := &store.ProductPage{Items: []*product.Product{}, Page: page, PageSize: size}
	// One statement, so the total and the page are one snapshot. The page
	// walks the (created_at, id) index alone and fetches only its rows; a
	// page past the end has no rows to carry the total, so it is counted
	// apart.
	rows, err := s.pool.Query(ctx, `WITH page AS (SELECT id FROM products`+cond+order+` LIMIT @limit OFFSET @offset)
SELECT `+productSel+`, (SELECT count(*) FROM products`+cond+`) FROM products JOIN page USING (id)`+order, args)
	if err != nil {
		return nil, fmt.Errorf("list products: %w", s.mapErr(ctx, err, false))
	}
	defer rows.Close()
	for rows.Next() {
		var p product.Product
		var tags string
		if err := rows.Scan(&p.ID, &p.Name, &p.ProviderName, &p.Description, &p.ProductType, &p.Visibility, &tags, &p.CreatedAt, &p.UpdatedAt, &p.Revision, &res.Total); err != nil {
			return nil, fmt.Errorf("list products: %w", s.mapErr(ctx, err, false))
		}
		if err := decode(tags, &p.Tags); err != nil {
			return nil, fmt.Errorf("list products: product %q: tags: %w", p.ID, err)
		}
		p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
		res.Items = append(res.Items, &p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list products: %w", s.mapErr(ctx, err, false))
	}
	if len(res.Items) == 0 {
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM products`+cond, args).Scan(&res.Total); err != nil {
			return nil, fmt.Errorf("list products: %w", s.mapErr(ctx, err, false))
		}
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
	np.Tags = maps.Clone(np.Tags)
	tags, err := encode(np.Tags)
	if err != nil {
		return nil, fmt.Errorf("update product %q: %w", np.ID, err)
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	err = s.pool.QueryRow(ctx, `UPDATE products SET name = $1, provider_name = $2, description = $3, product_type = $4,
	visibility = $5, tags = $6, search = $7, updated_at = now(), revision = revision + 1
WHERE id = $8 AND revision = $9 RETURNING created_at, updated_at, revision`,
		np.Name, np.ProviderName, np.Description, np.ProductType, np.Visibility, tags, check.SearchText(&np), np.ID, np.Revision,
	).Scan(&np.CreatedAt, &np.UpdatedAt, &np.Revision)
	if errors.Is(err, pgx.ErrNoRows) {
		err = s.unchanged(ctx, `SELECT revision FROM products WHERE id = $1`, np.ID, p.Revision)
	}
	if err != nil {
		return nil, fmt.Errorf("update product %q: %w", np.ID, s.mapErr(ctx, err, false))
	}
	np.CreatedAt, np.UpdatedAt = np.CreatedAt.UTC(), np.UpdatedAt.UTC()
	return &np, nil
}

// unchanged says why a write guarded by a revision changed nothing:
// revisionQuery reads the stored revision.
func (s *Store) unchanged(ctx context.Context, revisionQuery, key string, revision int64) error {
	var stored int64
	err := s.pool.QueryRow(ctx, revisionQuery, key).Scan(&stored)
	if errors.Is(err, pgx.ErrNoRows) {
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
	if err := s.start(ctx); err != nil {
		return err
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var name string
		err := tx.QueryRow(ctx, `SELECT name FROM deployments WHERE product_id = $1 LIMIT 1`, id).Scan(&name)
		switch {
		case err == nil:
			return fmt.Errorf("deployment %q: %w", name, store.ErrInUse)
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM products WHERE id = $1`, id)
		if err == nil && tag.RowsAffected() == 0 {
			err = store.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete product %q: %w", id, s.mapErr(ctx, err, true))
	}
	return nil
}

// Versions

const (
	versionCols = `id, product_id, name, description, guidance, active, stack_deps, template_url, content_hash, created_at, updated_at, revision`
	versionSel  = `id, product_id, name, description, guidance, active, stack_deps::text, template_url, content_hash, created_at, updated_at, revision`
)

func scanVersion(r pgx.Row) (*product.Version, error) {
	var v product.Version
	var deps string
	if err := r.Scan(&v.ID, &v.ProductID, &v.Name, &v.Description, &v.Guidance, &v.Active, &deps, &v.TemplateURL, &v.ContentHash, &v.CreatedAt, &v.UpdatedAt, &v.Revision); err != nil {
		return nil, err
	}
	if err := decode(deps, &v.StackDeps); err != nil {
		return nil, fmt.Errorf("version %q: stack_deps: %w", v.ID, err)
	}
	v.CreatedAt, v.UpdatedAt = v.CreatedAt.UTC(), v.UpdatedAt.UTC()
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
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	err := func() error {
		var deps string
		if nv.TemplateURL != "" {
			// Templates never change, so reading one outside the insert's
			// transaction is safe.
			id, _ := check.TemplateID("template_url", nv.TemplateURL)
			var hash string
			err := s.pool.QueryRow(ctx, `SELECT stack_deps::text, content_hash FROM templates WHERE id = $1`, id).Scan(&deps, &hash)
			if errors.Is(err, pgx.ErrNoRows) {
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
		nv.StackDeps = nil
		if err := decode(deps, &nv.StackDeps); err != nil {
			return err
		}
		err := s.pool.QueryRow(ctx, `INSERT INTO versions (`+versionCols+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now(), now(), 1) RETURNING created_at`,
			nv.ID, nv.ProductID, nv.Name, nv.Description, nv.Guidance, nv.Active, deps, nv.TemplateURL, nv.ContentHash,
		).Scan(&nv.CreatedAt)
		if pgCode(err) == foreignKeyViolation {
			return fmt.Errorf("product %q: %w", nv.ProductID, store.ErrNotFound)
		}
		return err
	}()
	if err != nil {
		return nil, fmt.Errorf("create version %q: %w", nv.Name, s.mapErr(ctx, err, false))
	}
	nv.CreatedAt = nv.CreatedAt.UTC()
	nv.UpdatedAt, nv.Revision = nv.CreatedAt, 1
	return &nv, nil
}

// GetVersion implements store.Versions.
func (s *Store) GetVersion(ctx context.Context, id string) (*product.Version, error) {
	if err := check.Key("product_version_id", id); err != nil {
		return nil, fmt.Errorf("get version: %w", err)
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	v, err := scanVersion(s.pool.QueryRow(ctx, `SELECT `+versionSel+` FROM versions WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("version %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get version %q: %w", id, s.mapErr(ctx, err, false))
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
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	res := []*product.Version{}
	err := func() error {
		var ok bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM products WHERE id = $1)`, productID).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("product %q: %w", productID, store.ErrNotFound)
		}
		rows, err := s.pool.Query(ctx, `SELECT `+versionSel+` FROM versions
WHERE product_id = $1 AND ($2 = '' OR content_hash = $2) ORDER BY created_at, id`, productID, q.ContentHash)
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
	}()
	if err != nil {
		return nil, fmt.Errorf("list versions: %w", s.mapErr(ctx, err, false))
	}
	return res, nil
}

// UpdateVersion implements store.Versions.
func (s *Store) UpdateVersion(ctx context.Context, v *product.Version) (*product.Version, error) {
	if err := check.VersionUpdate(v); err != nil {
		return nil, fmt.Errorf("update version: %w", err)
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	var nv *product.Version
	err := func() error {
		old, err := scanVersion(s.pool.QueryRow(ctx, `SELECT `+versionSel+` FROM versions WHERE id = $1`, v.ID))
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if old.Revision != v.Revision {
			return fmt.Errorf("at revision %d (stored %d): %w", v.Revision, old.Revision, store.ErrConflict)
		}
		// The fields compared here never change, so the guarded UPDATE
		// below is all that needs to be atomic.
		if err := check.Immutable(old, v); err != nil {
			return err
		}
		nv = old
		nv.Guidance, nv.Active, nv.Description = cmp.Or(v.Guidance, product.GuidanceDefault), v.Active, v.Description
		err = s.pool.QueryRow(ctx, `UPDATE versions SET guidance = $1, active = $2, description = $3, updated_at = now(), revision = revision + 1
WHERE id = $4 AND revision = $5 RETURNING updated_at, revision`,
			nv.Guidance, nv.Active, nv.Description, v.ID, v.Revision).Scan(&nv.UpdatedAt, &nv.Revision)
		if errors.Is(err, pgx.ErrNoRows) {
			return s.unchanged(ctx, `SELECT revision FROM versions WHERE id = $1`, v.ID, v.Revision)
		}
		nv.UpdatedAt = nv.UpdatedAt.UTC()
		return err
	}()
	if err != nil {
		return nil, fmt.Errorf("update version %q: %w", v.ID, s.mapErr(ctx, err, false))
	}
	return nv, nil
}

// DeleteVersion implements store.Versions.
func (s *Store) DeleteVersion(ctx context.Context, id string) error {
	if err := check.Key("product_version_id", id); err != nil {
		return fmt.Errorf("delete version: %w", err)
	}
	if err := s.start(ctx); err != nil {
		return err
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var name string
		err := tx.QueryRow(ctx, `SELECT name FROM deployments WHERE version_id = $1 OR target_version_id = $1 LIMIT 1`, id).Scan(&name)
		switch {
		case err == nil:
			return fmt.Errorf("deployment %q: %w", name, store.ErrInUse)
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM versions WHERE id = $1`, id)
		if err == nil && tag.RowsAffected() == 0 {
			err = store.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete version %q: %w", id, s.mapErr(ctx, err, true))
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
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	err = s.pool.QueryRow(ctx, `INSERT INTO templates (id, description, stack_deps, content_hash, created_at)
VALUES ($1, $2, $3, $4, now()) RETURNING created_at`, nt.ID, nt.Description, deps, nt.ContentHash).Scan(&nt.CreatedAt)
	if err != nil {
		return nil, fmt.Errorf("create template %q: %w", nt.ID, s.mapErr(ctx, err, false))
	}
	nt.CreatedAt = nt.CreatedAt.UTC()
	return &nt, nil
}

// GetTemplate implements store.Templates.
func (s *Store) GetTemplate(ctx context.Context, idOrURL string) (*store.Template, error) {
	id, err := check.TemplateID("template", idOrURL)
	if err != nil {
		return nil, fmt.Errorf("get template: %w", err)
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	var t store.Template
	var deps string
	err = s.pool.QueryRow(ctx, `SELECT id, description, stack_deps::text, content_hash, created_at FROM templates WHERE id = $1`, id).
		Scan(&t.ID, &t.Description, &deps, &t.ContentHash, &t.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("template %q: %w", idOrURL, store.ErrNotFound)
	}
	if err == nil {
		err = decode(deps, &t.StackDeps)
	}
	if err != nil {
		return nil, fmt.Errorf("get template %q: %w", idOrURL, s.mapErr(ctx, err, false))
	}
	t.URL, t.CreatedAt = store.TemplateURLPrefix+t.ID, t.CreatedAt.UTC()
	return &t, nil
}

// Deployments

const (
	deploymentCols = `name, product_id, version_id, target_version_id, runtime, status, parameters, stacks, operations, created_at, updated_at, revision`
	deploymentSel  = `name, product_id, version_id, target_version_id, runtime, status, parameters::text, stacks::text, operations::text, created_at, updated_at, revision`
)

func scanDeployment(r pgx.Row) (*store.Deployment, error) {
	var d store.Deployment
	var target *string
	var params, stacks, ops string
	if err := r.Scan(&d.Name, &d.ProductID, &d.VersionID, &target, &d.Runtime, &d.Status,
		&params, &stacks, &ops, &d.CreatedAt, &d.UpdatedAt, &d.Revision); err != nil {
		return nil, err
	}
	if target != nil {
		d.TargetVersionID = *target
	}
	if err := errors.Join(decode(params, &d.Parameters), decode(stacks, &d.Stacks), decode(ops, &d.Operations)); err != nil {
		return nil, fmt.Errorf("deployment %q: %w", d.Name, err)
	}
	d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
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

// refs checks that the product and versions d names exist and belong
// together. A product or version deleted after this check makes the
// write that follows fail on its foreign key, which maps to ErrNotFound.
func (s *Store) refs(ctx context.Context, d *store.Deployment) error {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM products WHERE id = $1)`, d.ProductID).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("product %q: %w", d.ProductID, store.ErrNotFound)
	}
	for _, r := range [...]struct{ field, id string }{{"version", d.VersionID}, {"target version", d.TargetVersionID}} {
		if r.id == "" {
			continue
		}
		var pid string
		err := s.pool.QueryRow(ctx, `SELECT product_id FROM versions WHERE id = $1`, r.id).Scan(&pid)
		if errors.Is(err, pgx.ErrNoRows) {
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
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	err = func() error {
		if err := s.refs(ctx, &nd); err != nil {
			return err
		}
		return s.pool.QueryRow(ctx, `INSERT INTO deployments (`+deploymentCols+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now(), now(), 1) RETURNING created_at`,
			nd.Name, nd.ProductID, nd.VersionID, nullable(nd.TargetVersionID), nd.Runtime, nd.Status, params, stacks, ops,
		).Scan(&nd.CreatedAt)
	}()
	if err != nil {
		return nil, fmt.Errorf("create deployment %q: %w", nd.Name, s.mapErr(ctx, err, false))
	}
	nd.CreatedAt = nd.CreatedAt.UTC()
	nd.UpdatedAt, nd.Revision = nd.CreatedAt, 1
	return decodeDeployment(&nd, params, stacks, ops)
}

// GetDeployment implements store.Deployments.
func (s *Store) GetDeployment(ctx context.Context, name string) (*store.Deployment, error) {
	if err := check.DeploymentName("name", name); err != nil {
		return nil, fmt.Errorf("get deployment: %w", err)
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	d, err := scanDeployment(s.pool.QueryRow(ctx, `SELECT `+deploymentSel+` FROM deployments WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("deployment %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get deployment %q: %w", name, s.mapErr(ctx, err, false))
	}
	return d, nil
}

// ListDeployments implements store.Deployments.
func (s *Store) ListDeployments(ctx context.Context, q store.DeploymentQuery) ([]*store.Deployment, error) {
	if err := check.DeploymentQuery(q); err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	res := []*store.Deployment{}
	err := func() error {
		rows, err := s.pool.Query(ctx, `SELECT `+deploymentSel+` FROM deployments
WHERE ($1 = '' OR product_id = $1) AND ($2 = '' OR version_id = $2) AND ($3 = '' OR status = $3)
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
	}()
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", s.mapErr(ctx, err, false))
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
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	err = func() error {
		var productID string
		var revision int64
		err := s.pool.QueryRow(ctx, `SELECT product_id, revision FROM deployments WHERE name = $1`, nd.Name).Scan(&productID, &revision)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return store.ErrNotFound
		case err != nil:
			return err
		case revision != nd.Revision:
			return fmt.Errorf("at revision %d (stored %d): %w", nd.Revision, revision, store.ErrConflict)
		case productID != nd.ProductID: // the product of a deployment never changes
			return store.Invalid("product_id", nd.ProductID, "is immutable")
		}
		if err := s.refs(ctx, &nd); err != nil {
			return err
		}
		err = s.pool.QueryRow(ctx, `UPDATE deployments SET version_id = $1, target_version_id = $2, runtime = $3, status = $4,
	parameters = $5, stacks = $6, operations = $7, updated_at = now(), revision = revision + 1
WHERE name = $8 AND revision = $9 RETURNING created_at, updated_at, revision`,
			nd.VersionID, nullable(nd.TargetVersionID), nd.Runtime, nd.Status, params, stacks, ops, nd.Name, nd.Revision,
		).Scan(&nd.CreatedAt, &nd.UpdatedAt, &nd.Revision)
		if errors.Is(err, pgx.ErrNoRows) {
			return s.unchanged(ctx, `SELECT revision FROM deployments WHERE name = $1`, nd.Name, d.Revision)
		}
		return err
	}()
	if err != nil {
		return nil, fmt.Errorf("update deployment %q: %w", nd.Name, s.mapErr(ctx, err, false))
	}
	nd.CreatedAt, nd.UpdatedAt = nd.CreatedAt.UTC(), nd.UpdatedAt.UTC()
	return decodeDeployment(&nd, params, stacks, ops)
}

// DeleteDeployment implements store.Deployments.
func (s *Store) DeleteDeployment(ctx context.Context, name string, revision int64) error {
	if err := check.DeploymentName("name", name); err != nil {
		return fmt.Errorf("delete deployment: %w", err)
	}
	if err := s.start(ctx); err != nil {
		return err
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM deployments WHERE name = $1 AND revision = $2`, name, revision)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var stored int64
			err := tx.QueryRow(ctx, `SELECT revision FROM deployments WHERE name = $1`, name).Scan(&stored)
			if errors.Is(err, pgx.ErrNoRows) {
				return store.ErrNotFound
			}
			if err != nil {
				return err
			}
			return fmt.Errorf("at revision %d (stored %d): %w", revision, stored, store.ErrConflict)
		}
		_, err = tx.Exec(ctx, `DELETE FROM leases WHERE deployment = $1`, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete deployment %q: %w", name, s.mapErr(ctx, err, false))
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
	if err := s.start(ctx); err != nil {
		return err
	}
	n := len(events)
	ops, types, stacks, services, messages := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	times := make([]*time.Time, n)
	for i := range events {
		e := &events[i]
		ops[i], types[i], stacks[i], services[i], messages[i] = e.OperationID, e.Type, e.Stack, e.Service, e.Message
		if !e.Time.IsZero() {
			times[i] = &e.Time
		}
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// The row lock taken here orders concurrent appends.
		var last int64
		err := tx.QueryRow(ctx, `UPDATE deployments SET event_seq = event_seq + $1 WHERE name = $2 RETURNING event_seq`, n, deployment).Scan(&last)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("deployment %q: %w", deployment, store.ErrNotFound)
		}
		if err != nil || n == 0 {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO events (deployment, seq, operation_id, time, type, stack, service, message)
SELECT $1, $2 + e.ord, e.op, coalesce(e.time, now()), e.type, e.stack, e.service, e.message
FROM unnest($3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[])
	WITH ORDINALITY AS e (op, time, type, stack, service, message, ord)`,
			deployment, last-int64(n), ops, times, types, stacks, services, messages)
		return err
	})
	if err != nil {
		return fmt.Errorf("append events to %q: %w", deployment, s.mapErr(ctx, err, false))
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
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	var limit *int
	if q.Limit > 0 {
		limit = &q.Limit
	}
	res := []store.Event{}
	err := func() error {
		var ok bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deployments WHERE name = $1)`, deployment).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("deployment %q: %w", deployment, store.ErrNotFound)
		}
		rows, err := s.pool.Query(ctx, `SELECT seq, operation_id, time, type, stack, service, message FROM events
WHERE deployment = $1 AND seq > $2 AND ($3 = '' OR operation_id = $3) ORDER BY seq LIMIT $4`,
			deployment, q.AfterSeq, q.OperationID, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e store.Event
			if err := rows.Scan(&e.Seq, &e.OperationID, &e.Time, &e.Type, &e.Stack, &e.Service, &e.Message); err != nil {
				return err
			}
			e.Time = e.Time.UTC()
			res = append(res, e)
		}
		return rows.Err()
	}()
	if err != nil {
		return nil, fmt.Errorf("list events of %q: %w", deployment, s.mapErr(ctx, err, false))
	}
	return res, nil
}

// Leases

// AcquireLease implements store.Leases. The decision is one statement,
// judged by the server's clock.
func (s *Store) AcquireLease(ctx context.Context, deployment, owner string, ttl time.Duration) (*store.Lease, error) {
	if err := check.Lease(deployment, owner, ttl); err != nil {
		return nil, fmt.Errorf("acquire lease: %w", err)
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	l := store.Lease{Deployment: deployment, Owner: owner}
	for {
		err := s.pool.QueryRow(ctx, `INSERT INTO leases AS l (deployment, owner, acquired_at, expires_at)
VALUES ($1, $2, now(), now() + $3 * interval '1 microsecond')
ON CONFLICT (deployment) DO UPDATE SET
	owner = excluded.owner,
	acquired_at = CASE WHEN l.owner = excluded.owner AND l.expires_at > now() THEN l.acquired_at ELSE now() END,
	expires_at = excluded.expires_at
WHERE l.owner = excluded.owner OR l.expires_at <= now()
RETURNING acquired_at, expires_at`, deployment, owner, ttl.Microseconds()).Scan(&l.AcquiredAt, &l.ExpiresAt)
		if err == nil {
			l.AcquiredAt, l.ExpiresAt = l.AcquiredAt.UTC(), l.ExpiresAt.UTC()
			return &l, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("acquire lease on %q for %q: %w", deployment, owner, s.mapErr(ctx, err, false))
		}
		held := &store.LeaseHeldError{Deployment: deployment}
		err = s.pool.QueryRow(ctx, `SELECT owner, expires_at FROM leases WHERE deployment = $1`, deployment).Scan(&held.Owner, &held.ExpiresAt)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // released in between: try again
		}
		if err != nil {
			return nil, fmt.Errorf("acquire lease on %q for %q: %w", deployment, owner, s.mapErr(ctx, err, false))
		}
		held.ExpiresAt = held.ExpiresAt.UTC()
		return nil, fmt.Errorf("acquire lease for %q: %w", owner, held)
	}
}

// ReleaseLease implements store.Leases.
func (s *Store) ReleaseLease(ctx context.Context, deployment, owner string) error {
	if err := check.DeploymentName("deployment", deployment); err != nil {
		return fmt.Errorf("release lease: %w", err)
	}
	if err := check.Key("owner", owner); err != nil {
		return fmt.Errorf("release lease: %w", err)
	}
	if err := s.start(ctx); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM leases WHERE deployment = $1 AND owner = $2`, deployment, owner)
	if err == nil && tag.RowsAffected() == 0 {
		held := &store.LeaseHeldError{Deployment: deployment}
		err = s.pool.QueryRow(ctx, `SELECT owner, expires_at FROM leases WHERE deployment = $1`, deployment).Scan(&held.Owner, &held.ExpiresAt)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			err = store.ErrNotFound
		case err == nil:
			held.ExpiresAt = held.ExpiresAt.UTC()
			err = held
		}
	}
	if err != nil {
		return fmt.Errorf("release lease on %q for %q: %w", deployment, owner, s.mapErr(ctx, err, false))
	}
	return nil
}

// GetLease implements store.Leases.
func (s *Store) GetLease(ctx context.Context, deployment string) (*store.Lease, error) {
	if err := check.DeploymentName("deployment", deployment); err != nil {
		return nil, fmt.Errorf("get lease: %w", err)
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	l := store.Lease{Deployment: deployment}
	err := s.pool.QueryRow(ctx, `SELECT owner, acquired_at, expires_at, expires_at <= now() FROM leases WHERE deployment = $1`, deployment).
		Scan(&l.Owner, &l.AcquiredAt, &l.ExpiresAt, &l.Expired)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("lease on %q: %w", deployment, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get lease on %q: %w", deployment, s.mapErr(ctx, err, false))
	}
	l.AcquiredAt, l.ExpiresAt = l.AcquiredAt.UTC(), l.ExpiresAt.UTC()
	return &l, nil
}
