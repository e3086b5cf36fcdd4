package docker

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"golang.org/x/sync/errgroup"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
)

// Observe rebuilds a deployment's state from the engine alone: the labels
// of its containers say which stack, service, instance and configuration
// each one is, inspection says whether it runs and is ready, and the
// published ports give the endpoints. While the runtime follows the
// engine's events (during and shortly after a Wait), inspections with no
// event of their container since are reused (see inspectCache). A deployment with no containers
// has no stacks. Stacks are sorted by tier and name, services by name,
// instances by number.
func (r *Runtime) Observe(ctx context.Context, deployment string) (*runtime.DeploymentState, error) {
	cs, err := r.listContainers(ctx, deployment, "")
	if err != nil {
		return nil, fmt.Errorf("observe %s: %w", deployment, err)
	}
	stopped, err := r.stoppedStacks(ctx, deployment)
	if err != nil {
		return nil, fmt.Errorf("observe %s: %w", deployment, err)
	}
	details := make([]*container.InspectResponse, len(cs))
	var g errgroup.Group
	g.SetLimit(8)
	for i := range cs {
		if !cs[i].canonical {
			continue // a replacement in progress: its new container speaks for it
		}
		if res, ok := r.hub.cache.get(cs[i].id, cs[i].state); ok {
			details[i] = &res
			continue
		}
		g.Go(func() error {
			t := r.hub.cache.token()
			res, err := r.cli.ContainerInspect(ctx, cs[i].id, client.ContainerInspectOptions{})
			if cerrdefs.IsNotFound(err) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("inspect %s: %w", cs[i].name, err)
			}
			r.hub.cache.put(t, res.Container)
			details[i] = &res.Container
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("observe %s: %w", deployment, err)
	}

	st := &runtime.DeploymentState{Deployment: deployment}
	stacks := map[string]*runtime.StackState{}
	services := map[string]*runtime.ServiceState{}
	type pending struct {
		svc *runtime.ServiceState
		idx int
		in  *inst
	}
	var asks []pending
	now := time.Now()
	for i, c := range cs {
		d := details[i]
		if d == nil {
			continue
		}
		s := stacks[c.stack]
		if s == nil {
			tier, _ := strconv.Atoi(r.lb.get(c.labels, keyTier))
			s = &runtime.StackState{Name: c.stack, Tier: tier, Stopped: stopped[c.stack]}
			stacks[c.stack] = s
		}
		// The newest container's labels say which version the stack runs.
		s.ProductID, s.VersionID = r.lb.get(c.labels, keyProductID), r.lb.get(c.labels, keyVersionID)
		svc := services[c.stack+"/"+c.svc]
		if svc == nil {
			svc = &runtime.ServiceState{Name: c.svc, Hash: c.hash}
			services[c.stack+"/"+c.svc] = svc
		}
		if d.Config != nil {
			svc.Image = addImage(svc.Image, d.Config.Image)
		}
		in := &inst{svc: c.svc, n: c.n, mode: c.mode, probe: r.lb.probe(c.labels)}
		in.read(*d, r.networkName(deployment))
		is := runtime.InstanceState{Name: in.name, ID: in.id, Running: in.running, StartedAt: in.started}
		switch {
		case in.running:
			if in.mode == modeHost && in.probe != nil {
				// Readiness is recorded nowhere: ask once, below.
				asks = append(asks, pending{svc, len(svc.Instances), in})
			} else if ok, _ := in.ready(now, r.opts.SettleTime); ok {
				is.Ready = true
			} else {
				is.Reason = "NotReady"
				if in.health == container.Unhealthy {
					is.Reason = "Unhealthy"
				}
			}
		case in.created:
			is.Reason = "Created"
		case in.oom:
			is.Reason, is.ExitCode = "OOMKilled", in.exitCode
		case d.State != nil && d.State.Restarting:
			is.Reason, is.ExitCode = "Restarting", in.exitCode
		case in.exited:
			is.Reason, is.ExitCode = "Exited", in.exitCode
			if s.Stopped {
				is.Reason = "Stopped"
			}
		default:
			if d.State != nil {
				is.Reason = capitalize(string(d.State.Status))
			}
		}
		svc.Instances = append(svc.Instances, is)
		svc.Endpoints = append(svc.Endpoints, r.endpoints(deployment, c, d)...)
	}
	ok := make([]bool, len(asks))
	var probes sync.WaitGroup
	for i, a := range asks {
		probes.Go(func() {
			_, err := checkHost(ctx, a.in.probe, a.in.ip)
			ok[i] = err == nil
		})
	}
	probes.Wait()
	for i, a := range asks {
		if ok[i] {
			a.svc.Instances[a.idx].Ready = true
		} else {
			a.svc.Instances[a.idx].Reason = "NotReady"
		}
	}
	for key, svc := range services {
		svc.Desired = len(svc.Instances)
		stk, _, _ := strings.Cut(key, "/")
		stacks[stk].Services = append(stacks[stk].Services, *svc)
	}
	for _, s := range stacks {
		slices.SortFunc(s.Services, func(a, b runtime.ServiceState) int { return strings.Compare(a.Name, b.Name) })
		st.Stacks = append(st.Stacks, *s)
	}
	slices.SortFunc(st.Stacks, func(a, b runtime.StackState) int {
		return cmp.Or(a.Tier-b.Tier, strings.Compare(a.Name, b.Name))
	})
	return st, nil
}

// endpoints lists where the access points of one instance answer.
func (r *Runtime) endpoints(dep string, c ctr, d *container.InspectResponse) []runtime.Endpoint {
	var out []runtime.Endpoint
	for _, ap := range r.lb.accessPoints(c.labels) {
		proto := network.TCP
		if ap.Protocol() == stack.ProtoUDP {
			proto = network.UDP
		}
		for _, bp := range ap.BackendPorts {
			e := runtime.Endpoint{
				Type: ap.Type, Proto: ap.Protocol(), BackendPort: bp,
				Internal: net.JoinHostPort(c.svc+"."+c.stack, strconv.Itoa(bp)),
			}
			if ap.Type == stack.AccessDomain {
				e.Host = r.domainHost(dep, c.stack, c.svc)
			}
			if ap.Type != stack.AccessInternalIP && d.NetworkSettings != nil {
				if p, ok := network.PortFrom(uint16(bp), proto); ok {
					for _, b := range d.NetworkSettings.Ports[p] {
						if b.HostPort != "" {
							e.Address = net.JoinHostPort(r.opts.AdvertiseHost, b.HostPort)
							break
						}
					}
				}
			}
			out = append(out, e)
		}
	}
	return out
}

// stoppedStacks returns the stacks of a deployment that Stop left
// stopped.
func (r *Runtime) stoppedStacks(ctx context.Context, dep string) (map[string]bool, error) {
	res, err := r.cli.VolumeList(ctx, client.VolumeListOptions{Filters: r.lb.filters(roleStopped, dep, "")})
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	out := map[string]bool{}
	for _, v := range res.Items {
		out[r.lb.get(v.Labels, keyStack)] = true
	}
	return out, nil
}

// addImage adds an instance's image to a service's: instances that run
// different images are reported as a list, so that none matches a spec.
func addImage(have, img string) string {
	if have == "" || img == "" {
		return have + img
	}
	if slices.Contains(strings.Split(have, ", "), img) {
		return have
	}
	return have + ", " + img
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
