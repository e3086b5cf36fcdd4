package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/validate"
)

func (s *Server) createVersion(c *call) error {
	p, err := s.resolveProduct(c)
	if err != nil {
		return err
	}
	var vc VersionCreate
	sh, err := c.decodeSpec(&vc)
	if err != nil {
		return err
	}
	active := true
	if vc.Active != nil {
		active = *vc.Active
	}
	v := &product.Version{
		ProductID: p.ID, Name: vc.Name, Description: vc.Description, Guidance: vc.Guidance,
		Active: active, StackDeps: vc.StackDeps, TemplateURL: vc.TemplateURL,
	}
	var details []Detail
	opts := s.validateOptions()
	opts.Shorthands = sh
	if err := validate.Version(v, opts); err != nil {
		d, ok := invalidDetails(err)
		if !ok {
			return err
		}
		details = d
	}
	if vc.TemplateURL != "" && len(vc.StackDeps) > 0 {
		details = append(details, Detail{Field: "template_url", Type: TypeInvalid, Detail: "give either stack_deps or template_url, not both"})
	}
	if len(details) > 0 {
		return newError(http.StatusBadRequest, MsgInvalidRequest, details...)
	}
	wctx, cancel := c.writeContext()
	defer cancel()
	nv, err := s.st.CreateVersion(wctx, v)
	switch {
	case errors.Is(err, store.ErrAlreadyExists):
		return newError(http.StatusConflict, MsgConflict, Detail{Field: "version_name", Type: TypeDuplicate,
			Detail: fmt.Sprintf("product %s already has a version named %q", p.ID, v.Name)})
	case errors.Is(err, store.ErrNotFound) && vc.TemplateURL != "":
		if _, terr := s.st.GetTemplate(wctx, vc.TemplateURL); errors.Is(terr, store.ErrNotFound) {
			return invalid("template_url", TypeNotFound, "no template "+vc.TemplateURL)
		}
		return err
	case err != nil:
		return err
	}
	return c.ok(VersionResponse{VersionID: nv.ID, Version: s.redactVersion(nv), RequestID: c.id})
}

func (s *Server) listVersions(c *call) error {
	p, err := s.resolveProduct(c)
	if err != nil {
		return err
	}
	q := c.q
	vs, err := s.st.ListVersions(c.r.Context(), p.ID, store.VersionQuery{ContentHash: q.Get("content_hash")})
	if err != nil {
		return err
	}
	return c.ok(VersionList{Versions: s.redactVersions(visibleVersions(c, vs)), RequestID: c.id})
}

// resolveVersion reads the version the path names and checks that the
// caller may perform the route's action on it.
func (s *Server) resolveVersion(c *call) (*product.Version, error) {
	id := c.r.PathValue("version")
	v, err := s.st.GetVersion(c.r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		if err := c.authorize(VersionResource(id)); err != nil {
			return nil, c.hide(err, "version", id, ActionGetVersion, VersionResource(id))
		}
		return nil, notFound("version", id)
	}
	if err != nil {
		return nil, err
	}
	if err := c.authorize(VersionResource(v.ID)); err != nil {
		return nil, c.hide(err, "version", id, ActionGetVersion, VersionResource(v.ID))
	}
	return v, nil
}

func (s *Server) getVersion(c *call) error {
	v, err := s.resolveVersion(c)
	if err != nil {
		return err
	}
	return c.ok(VersionResponse{VersionID: v.ID, Version: s.redactVersion(v), RequestID: c.id})
}

func (s *Server) updateVersion(c *call) error {
	v, err := s.resolveVersion(c)
	if err != nil {
		return err
	}
	var u VersionUpdate
	if err := c.decode(&u, false); err != nil {
		return err
	}
	if u.Revision != 0 && u.Revision != v.Revision {
		return staleRevision("version", v.ID, u.Revision, v.Revision)
	}
	setIf(&v.Guidance, u.Guidance)
	setIf(&v.Active, u.Active)
	setIf(&v.Description, u.Description)
	wctx, cancel := c.writeContext()
	defer cancel()
	nv, err := s.st.UpdateVersion(wctx, v)
	if err != nil {
		return err
	}
	return c.ok(VersionResponse{VersionID: nv.ID, Version: s.redactVersion(nv), RequestID: c.id})
}

func (s *Server) deleteVersion(c *call) error {
	v, err := s.resolveVersion(c)
	if err != nil {
		return err
	}
	wctx, cancel := c.writeContext()
	defer cancel()
	err = s.st.DeleteVersion(wctx, v.ID)
	if errors.Is(err, store.ErrInUse) {
		return newError(http.StatusConflict, MsgConflict, Detail{Field: "product_version_id", Type: TypeInUse,
			Detail: "a deployment runs this version or is moving to it"})
	}
	if err != nil {
		return err
	}
	return c.ok(DeleteVersionResponse{VersionID: v.ID, RequestID: c.id})
}

func (s *Server) createTemplate(c *call) error {
	if err := c.authorize(AllTemplates); err != nil {
		return err
	}
	var tc TemplateCreate
	sh, err := c.decodeSpec(&tc)
	if err != nil {
		return err
	}
	opts := s.validateOptions()
	opts.Shorthands = sh
	if err := validate.Deps(tc.StackDeps, opts); err != nil {
		return err
	}
	wctx, cancel := c.writeContext()
	defer cancel()
	t, err := s.st.CreateTemplate(wctx, &store.Template{Description: tc.Description, StackDeps: tc.StackDeps})
	if err != nil {
		return err
	}
	return c.ok(TemplateResponse{TemplateID: t.ID, TemplateURL: t.URL, Template: s.redactTemplate(t), RequestID: c.id})
}

func (s *Server) getTemplate(c *call) error {
	key := c.r.PathValue("template")
	t, err := s.st.GetTemplate(c.r.Context(), key)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		if err := c.authorize(TemplateResource(key)); err != nil {
			return c.hide(err, "template", key, ActionGetTemplate, TemplateResource(key))
		}
		return notFound("template", key)
	}
	if err != nil {
		return err
	}
	if err := c.authorize(TemplateResource(t.ID)); err != nil {
		return c.hide(err, "template", key, ActionGetTemplate, TemplateResource(t.ID))
	}
	return c.ok(TemplateResponse{TemplateID: t.ID, TemplateURL: t.URL, Template: s.redactTemplate(t), RequestID: c.id})
}
