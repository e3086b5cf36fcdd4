package docker

import (
	"context"
	"fmt"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
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
		_, err := r.cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
		if err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("remove network %s: %w", n.Name, err)
		}
	}
	return nil
}
