package docker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/stackwave/stackwave/runtime"
)

// ensureNetwork returns the deployment's bridge network, creating it on
// first use. The engine allows several networks of one name; when
// concurrent creations made more than one, every caller settles on the
// oldest and removes its own extra.
func (r *Runtime) ensureNetwork(ctx context.Context, dep string) (netRef, error) {
	nets, err := r.listNetworks(ctx, dep)
	if err != nil {
		return netRef{}, err
	}
	if len(nets) > 0 {
		return netRef{id: nets[0].ID, name: nets[0].Name}, nil
	}
	name := r.networkName(dep)
	res, err := r.cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge", Labels: r.lb.base(roleNetwork, dep)})
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
// container of the deployment is left. Applies of the deployment in this
// process hold the deployment's lock for reading, so the network never
// goes away under them.
func (r *Runtime) removeNetworkIfUnused(ctx context.Context, dep string) error {
	l := r.depLock(dep)
	l.Lock()
	defer l.Unlock()
	cs, err := r.listContainers(ctx, dep, "")
	if err != nil {
		return err
	}
	if len(cs) > 0 {
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
