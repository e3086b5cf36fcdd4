package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/stackwave/stackwave/product"
)

// Registration is what Register stored, or found.
type Registration struct {
	Product *product.Product
	Version *product.Version
	// Created is false when the same document had been registered
	// before: Product and Version are then the records it made.
	Created bool
}

// RegisterOptions give the defaults of a registration.
type RegisterOptions struct {
	// ProviderName is the provider of a product whose document names
	// none.
	ProviderName string
	// VersionName names the version when the document does not; empty
	// means "v1".
	VersionName string
}

// Register catalogues a product document: the product and its first
// version are written in one transaction, so that no crash ever leaves a
// product without a version. Registering a document again is idempotent:
// when the name is taken by a product that has a version with the same
// spec (the same content hash), Register answers its records with Created
// false; when the product under that name has no such version, it fails
// with ErrAlreadyExists. Rules are those of CreateProduct and
// CreateVersion. opts may be nil.
func (s *Store) Register(ctx context.Context, doc *product.Document, opts *RegisterOptions) (*Registration, error) {
	if doc == nil {
		return nil, fmt.Errorf("register: %w", Invalid("document", nil, "must not be nil"))
	}
	if opts == nil {
		opts = &RegisterOptions{}
	}
	p, err := s.newProduct(&product.Product{
		Name: doc.Name, ProviderName: cmp.Or(doc.ProviderName, opts.ProviderName), Description: doc.Description,
		ProductType: doc.ProductType, Visibility: doc.Visibility, Tags: doc.Tags,
	})
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	v := &product.Version{
		ProductID: p.ID, Name: cmp.Or(doc.VersionName, opts.VersionName, "v1"), Description: doc.VersionDescription,
		Guidance: doc.Guidance, Active: doc.Active == nil || *doc.Active, StackDeps: doc.StackDeps, TemplateURL: doc.TemplateURL,
	}
	if err := checkVersion(v, s.rules); err != nil {
		return nil, fmt.Errorf("register %q: %w", doc.Name, err)
	}
	var nv *product.Version
	err = s.update(ctx, nil, func(tx Tx) (err error) {
		if err := tx.InsertProduct(ctx, CloneProduct(p)); err != nil {
			return err
		}
		nv, err = s.insertVersion(ctx, tx, v)
		return err
	})
	if err == nil {
		return &Registration{Product: p, Version: nv, Created: true}, nil
	}
	if !errors.Is(err, ErrAlreadyExists) {
		return nil, fmt.Errorf("register %q: %w", doc.Name, err)
	}
	// The name is taken: by the same document, registered before?
	old, gerr := s.d.ProductByName(ctx, doc.Name)
	if gerr != nil {
		return nil, fmt.Errorf("register %q: %w", doc.Name, err)
	}
	deps := doc.StackDeps
	if doc.TemplateURL != "" && len(deps) == 0 {
		t, terr := s.template(ctx, s.d, doc.TemplateURL)
		if terr != nil {
			return nil, fmt.Errorf("register %q: %w", doc.Name, terr)
		}
		deps = t.StackDeps
	}
	same, lerr := s.ListVersions(ctx, old.ID, VersionQuery{ContentHash: product.Hash(deps)})
	if lerr != nil {
		return nil, fmt.Errorf("register %q: %w", doc.Name, lerr)
	}
	if len(same) == 0 {
		return nil, fmt.Errorf("register %q: another document is registered under this name: %w", doc.Name, ErrAlreadyExists)
	}
	return &Registration{Product: old, Version: same[0], Created: false}, nil
}
