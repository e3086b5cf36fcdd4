package stack

import "slices"

// Clone returns a deep copy of d: changing the copy, down to an env
// string or a probe's expected codes, leaves d as it was. Nil and empty
// lists stay nil and empty.
func (d Deps) Clone() Deps {
	if d == nil {
		return nil
	}
	out := make(Deps, len(d))
	for i, t := range d {
		out[i] = t.Clone()
	}
	return out
}

// Clone returns a deep copy of t.
func (t Tier) Clone() Tier {
	if t == nil {
		return nil
	}
	out := make(Tier, len(t))
	for i := range t {
		out[i] = t[i].Clone()
	}
	return out
}

// Clone returns a deep copy of the stack.
func (s Stack) Clone() Stack {
	c := s
	if s.Services != nil {
		c.Services = make([]Service, len(s.Services))
		for i := range s.Services {
			c.Services[i] = s.Services[i].clone()
		}
	}
	c.DependsOn = slices.Clone(s.DependsOn)
	if s.InitScripts != nil {
		c.InitScripts = make([]InitScript, len(s.InitScripts))
		for i, is := range s.InitScripts {
			c.InitScripts[i] = InitScript{ServiceName: is.ServiceName, Command: slices.Clone(is.Command)}
		}
	}
	return c
}

func (s *Service) clone() Service {
	c := *s
	c.Envs = slices.Clone(s.Envs)
	c.Command = slices.Clone(s.Command)
	c.VolumeArgs = slices.Clone(s.VolumeArgs)
	if s.AccessPoints != nil {
		c.AccessPoints = make([]AccessPoint, len(s.AccessPoints))
		for i, ap := range s.AccessPoints {
			ap.BackendPorts = slices.Clone(ap.BackendPorts)
			ap.HostPorts = slices.Clone(ap.HostPorts)
			c.AccessPoints[i] = ap
		}
	}
	c.ConfigPaths = slices.Clone(s.ConfigPaths)
	if s.Readiness != nil {
		p := *s.Readiness
		p.ExpectedCodes = slices.Clone(p.ExpectedCodes)
		p.Command = slices.Clone(p.Command)
		c.Readiness = &p
	}
	return c
}

// Service returns the service of deps named service in the stack named
// stackName, or nil. The result points into deps: changing it changes
// deps (Clone first to keep deps as it is).
func (d Deps) Service(stackName, service string) *Service {
	s, _ := d.Stack(stackName)
	return s.Service(service)
}
