package docker

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/stackwave/stackwave/runtime"
)

// ensureNetwork returns the deployment's bridge network, creating it on
// first use. Creations for one deployment are serialised in this process;
// the engine allows several networks of one name, so when creations by
// several processes made more than one, every caller settles on the
// oldest and removes its own extra.
func (r *Runtime) ensureNetwork(ctx context.Context, dep string) (netRef, error) {
	r.mu.Lock()
	l := r.netCreate[dep]
	if l == nil {
		l = &sync.Mutex{}
		r.netCreate[dep] = l
	}
	r.mu.Unlock()
	l.Lock()
	defer l.Unlock()
	nets, err := r.listNetworks(ctx, dep)
	if err != nil {
		return netRef{}, err
	}
	if len(nets) > 0 {
		return netRef{id: nets[0].ID, name: nets[0].Name}, nil
	}
	name := r.networkName(dep)
	res, err := r.createNetwork(ctx, name, client.NetworkCreateOptions{Driver: "bridge", Labels: r.lb.base(roleNetwork, dep)})
	if err != nil {
		return netRef{}, fmt.Errorf("create network %s: %w", name, err)
	}
	if nets, err = r.listNetworks(ctx, dep); err != nil {
		return netRef{}, err
	}
	if len(nets) == 0 {
		return netRef{}, fmt.Errorf("create network %s: %w: it vanished after creation", name, cerrdefs.ErrNotFound)
	}
	if nets[0].ID != res.ID {
		_, _ = r.cli.NetworkRemove(ctx, res.ID, client.NetworkRemoveOptions{})
	}
	return netRef{id: nets[0].ID, name: nets[0].Name}, nil
}

// createNetwork creates a network, with a /24 of Options.SubnetPool when
// one is set. Another engine client may take the same subnet meanwhile:
// the engine then refuses the overlap and the next free one is tried.
func (r *Runtime) createNetwork(ctx context.Context, name string, opts client.NetworkCreateOptions) (client.NetworkCreateResult, error) {
	if !r.opts.SubnetPool.IsValid() {
		return r.cli.NetworkCreate(ctx, name, opts)
	}
	var lastErr error
	for attempt := range 16 {
		subnet, err := r.reserveSubnet(ctx, name, attempt)
		if err != nil {
			return client.NetworkCreateResult{}, err
		}
		opts.IPAM = &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet}}}
		res, err := r.cli.NetworkCreate(ctx, name, opts)
		r.mu.Lock()
		delete(r.reserved, subnet)
		r.mu.Unlock()
		if err == nil || !strings.Contains(err.Error(), "overlap") {
			return res, err
		}
		lastErr = err
	}
	return client.NetworkCreateResult{}, lastErr
}

// reserveSubnet picks a /24 of the pool that no network of the engine
// uses and no concurrent creation of this runtime has picked. The search
// starts at a place derived from the network's name (and the attempt), so
// runtimes creating networks at once rarely pick the same one.
func (r *Runtime) reserveSubnet(ctx context.Context, name string, attempt int) (netip.Prefix, error) {
	res, err := r.cli.NetworkList(ctx, client.NetworkListOptions{})
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("list networks: %w", err)
	}
	var used []netip.Prefix
	for _, n := range res.Items {
		for _, c := range n.IPAM.Config {
			if c.Subnet.IsValid() {
				used = append(used, c.Subnet)
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for p := range r.reserved {
		used = append(used, p)
	}
	pool := r.opts.SubnetPool
	base := pool.Addr().As4()
	n := 1 << (24 - pool.Bits())
	h := fnv.New32a()
	h.Write([]byte(name))
	start := int(h.Sum32()%uint32(n)) + attempt*7919 // a prime stride between attempts
	for k := range n {
		i := (start + k) % n
		a := base
		a[1] += byte(i >> 8)
		a[2] += byte(i)
		cand := netip.PrefixFrom(netip.AddrFrom4(a), 24)
		if !slices.ContainsFunc(used, cand.Overlaps) {
			r.reserved[cand] = true
			return cand, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /24 left in SubnetPool %s (%d networks use it)", pool, len(used))
}

// listNetworks returns the deployment's networks, oldest first.
func (r *Runtime) listNetworks(ctx context.Context, dep string) ([]network.Summary, error) {
	res, err := r.cli.NetworkList(ctx, client.NetworkListOptions{Filters: r.lb.filters(roleNetwork, dep, "")})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	nets := res.Items
	slices.SortFunc(nets, func(a, b network.Summary) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return nets, nil
}

// removeNetworkIfUnused removes the deployment's networks when no
// container of the deployment is left but those named in stopped, which
// the caller has stopped and is removing. Applies of the deployment in
// this process hold the deployment's lock for reading, so the network
// never goes away under them.
func (r *Runtime) removeNetworkIfUnused(ctx context.Context, dep string, stopped map[string]bool) error {
	l := r.depLock(dep)
	l.Lock()
	defer l.Unlock()
	cs, err := r.listContainers(ctx, dep, "")
	if err != nil {
		return err
	}
	if slices.ContainsFunc(cs, func(c ctr) bool { return !stopped[c.id] }) {
		return nil
	}
	nets, err := r.listNetworks(ctx, dep)
	if err != nil {
		return err
	}
	for _, n := range nets {
		if err := r.removeNetwork(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// removeNetwork removes an unused network. Endpoints of containers that
// just stopped may still be on their way out, so "active endpoints" is
// retried for a moment, and only while no container is attached.
func (r *Runtime) removeNetwork(ctx context.Context, n network.Summary) error {
	deadline := time.Now().Add(networkSettle)
	for {
		_, err := r.cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
		if err == nil || cerrdefs.IsNotFound(err) {
			return nil
		}
		if !activeEndpoints(err) {
			return fmt.Errorf("remove network %s: %w", n.Name, err)
		}
		res, ierr := r.cli.NetworkInspect(ctx, n.ID, client.NetworkInspectOptions{})
		if ierr == nil && len(res.Network.Containers) > 0 {
			return nil // something joined it meanwhile; the last Remove takes it
		}
		if time.Now().After(deadline) {
			// Engine 20.10 can lose count of a network's endpoints when
			// many come and go at once (moby/moby#42119): the network
			// then cannot be removed until the engine restarts. A later
			// launch of the deployment reuses it.
			return fmt.Errorf("remove network %s: %w: the engine counts endpoints on it although no container is attached, "+
				"a known Docker Engine bug (moby/moby#42119, gone in Engine 28.1); restarting the engine clears the count, "+
				"and launching the deployment again reuses the network: %w", n.Name, runtime.ErrConflict, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("remove network %s: %w", n.Name, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// networkSettle bounds the retries of a network removal that finds
// endpoints still on their way out.
const networkSettle = 3 * time.Second

func activeEndpoints(err error) bool {
	return strings.Contains(err.Error(), "active endpoints")
}
