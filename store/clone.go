package store

import (
	"maps"
	"slices"

	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/stack"
)

// CloneProduct returns a deep copy of p, for drivers that keep records
// in memory.
func CloneProduct(p *product.Product) *product.Product {
	c := *p
	if p.Tags != nil {
		c.Tags = maps.Clone(p.Tags)
	}
	return &c
}

// CloneVersion returns a deep copy of v.
func CloneVersion(v *product.Version) *product.Version {
	c := *v
	c.StackDeps = cloneDeps(v.StackDeps)
	return &c
}

// Clone returns a deep copy of t.
func (t *Template) Clone() *Template {
	c := *t
	c.StackDeps = cloneDeps(t.StackDeps)
	return &c
}

// Clone returns a deep copy of d.
func (d *Deployment) Clone() *Deployment {
	c := *d
	if d.Parameters != nil {
		c.Parameters = maps.Clone(d.Parameters)
	}
	c.Stacks = slices.Clone(d.Stacks)
	c.VolumeStacks = slices.Clone(d.VolumeStacks)
	c.Operations = slices.Clone(d.Operations)
	for i := range c.Operations {
		c.Operations[i].NewVolumeStacks = slices.Clone(c.Operations[i].NewVolumeStacks)
	}
	return &c
}

// cloneDeps copies a spec down to its last slice.
func cloneDeps(deps stack.Deps) stack.Deps {
	if deps == nil {
		return nil
	}
	c := make(stack.Deps, len(deps))
	for i, tier := range deps {
		if tier == nil {
			continue
		}
		c[i] = make(stack.Tier, len(tier))
		for j := range tier {
			c[i][j] = cloneStack(&tier[j])
		}
	}
	return c
}

func cloneStack(s *stack.Stack) stack.Stack {
	c := *s
	c.DependsOn = slices.Clone(s.DependsOn)
	if s.Services != nil {
		c.Services = make([]stack.Service, len(s.Services))
		for i := range s.Services {
			c.Services[i] = cloneService(&s.Services[i])
		}
	}
	if s.InitScripts != nil {
		c.InitScripts = make([]stack.InitScript, len(s.InitScripts))
		for i, is := range s.InitScripts {
			c.InitScripts[i] = stack.InitScript{ServiceName: is.ServiceName, Command: slices.Clone(is.Command)}
		}
	}
	return c
}

func cloneService(s *stack.Service) stack.Service {
	c := *s
	c.Envs = slices.Clone(s.Envs)
	c.Command = slices.Clone(s.Command)
	c.VolumeArgs = slices.Clone(s.VolumeArgs)
	c.ConfigPaths = slices.Clone(s.ConfigPaths)
	if s.AccessPoints != nil {
		c.AccessPoints = make([]stack.AccessPoint, len(s.AccessPoints))
		for i, ap := range s.AccessPoints {
			ap.BackendPorts = slices.Clone(ap.BackendPorts)
			ap.HostPorts = slices.Clone(ap.HostPorts)
			c.AccessPoints[i] = ap
		}
	}
	if s.Readiness != nil {
		r := *s.Readiness
		r.ExpectedCodes = slices.Clone(r.ExpectedCodes)
		r.Command = slices.Clone(r.Command)
		c.Readiness = &r
	}
	return c
}
