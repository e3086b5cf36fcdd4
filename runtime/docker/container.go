package docker

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
)

// probePath is where the probe binary is placed in containers.
const probePath = "/.stackwave/probe"

// ctr is a container of the runtime as a listing shows it.
type ctr struct {
	id        string
	name      string
	stack     string
	svc       string
	n         int
	hash      string
	image     string // as the listing names it: the reference it was created with, or an image ID
	mode      string
	state     container.ContainerState
	created   int64
	canonical bool // named <deployment>-<stack>-<service>-<n>
	labels    map[string]string
}

// listContainers lists the runtime's containers of a deployment, or of
// one stack of it when stk is not empty, in every state.
func (r *Runtime) listContainers(ctx context.Context, dep, stk string) ([]ctr, error) {
	res, err := r.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: r.lb.filters(roleContainer, dep, stk)})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]ctr, 0, len(res.Items))
	for _, s := range res.Items {
		c := ctr{
			id: s.ID, stack: r.lb.get(s.Labels, keyStack), svc: r.lb.get(s.Labels, keyService),
			n: r.lb.instance(s.Labels), hash: r.lb.get(s.Labels, keyConfigHash), image: s.Image, mode: r.lb.get(s.Labels, keyReadiness),
			state: s.State, created: s.Created, labels: s.Labels,
		}
		if len(s.Names) > 0 {
			c.name = strings.TrimPrefix(s.Names[0], "/")
		}
		if c.mode == "" {
			c.mode = modeRunning
		}
		c.canonical = c.n > 0 && c.name == r.containerName(dep, c.stack, c.svc, c.n)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b ctr) int {
		return cmpAll(strings.Compare(a.stack, b.stack), strings.Compare(a.svc, b.svc), a.n-b.n, int(a.created-b.created), strings.Compare(a.id, b.id))
	})
	return out, nil
}

func cmpAll(cs ...int) int {
	for _, c := range cs {
		if c != 0 {
			return c
		}
	}
	return 0
}

// createOptions builds the container of instance n of a service.
func (r *Runtime) createOptions(ctx context.Context, spec *runtime.StackSpec, svc *stack.Service, n int, hash string, net netRef, vols []volumeMount) (client.ContainerCreateOptions, error) {
	unit, err := spec.Unit(svc)
	if err != nil {
		return client.ContainerCreateOptions{}, err
	}
	mode := r.readinessMode(svc.Readiness)
	labels := r.lb.containerLabels(spec, svc, n, hash)
	labels[r.lb.key(keyReadiness)] = mode
	cfg := &container.Config{
		Image:    svc.Image.Ref(),
		Env:      slices.Clone(svc.Envs),
		Cmd:      slices.Clone(svc.Command),
		Labels:   labels,
		Hostname: hostname(svc.Name, n),
	}
	host := &container.HostConfig{
		NetworkMode:   container.NetworkMode(net.name),
		RestartPolicy: container.RestartPolicy{Name: r.opts.RestartPolicy},
		Resources: container.Resources{
			NanoCPUs:   min(unit.NanoCPUs(), int64(r.hostCPUs(ctx))*1e9),
			Memory:     unit.MemoryBytes,
			MemorySwap: unit.MemoryBytes,
		},
	}
	for _, ap := range svc.AccessPoints {
		proto := network.TCP
		if ap.Protocol() == stack.ProtoUDP {
			proto = network.UDP
		}
		for i, bp := range ap.BackendPorts {
			p, ok := network.PortFrom(uint16(bp), proto)
			if !ok {
				return client.ContainerCreateOptions{}, fmt.Errorf("%w: backend port %d", runtime.ErrInvalid, bp)
			}
			if cfg.ExposedPorts == nil {
				cfg.ExposedPorts = network.PortSet{}
			}
			cfg.ExposedPorts[p] = struct{}{}
			if ap.Type == stack.AccessInternalIP {
				continue
			}
			if host.PortBindings == nil {
				host.PortBindings = network.PortMap{}
			}
			b := network.PortBinding{HostIP: r.opts.HostIP}
			if i < len(ap.HostPorts) && ap.HostPorts[i] > 0 {
				b.HostPort = strconv.Itoa(ap.HostPorts[i])
			}
			host.PortBindings[p] = append(host.PortBindings[p], b)
		}
	}
	for _, v := range vols {
		host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeVolume, Source: v.name, Target: v.path})
	}
	if mode == modeHealth {
		cfg.Healthcheck = r.healthcheck(spec, svc)
	}
	return client.ContainerCreateOptions{
		Name:       r.containerName(spec.Deployment, spec.Stack.Name, svc.Name, n),
		Config:     cfg,
		HostConfig: host,
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			net.name: {NetworkID: net.id, Aliases: []string{svc.Name + "." + spec.Stack.Name, spec.Stack.Name + "-" + svc.Name}},
		}},
	}, nil
}

// healthcheck maps a probe onto a Docker health check. Interval is the
// probe's period; failures during the start period (the readiness
// timeout) do not count, so `docker ps` shows "starting" until the first
// success; after it, three failures in a row make the container unhealthy.
func (r *Runtime) healthcheck(spec *runtime.StackSpec, svc *stack.Service) *container.HealthConfig {
	p := svc.Readiness
	period := probePeriod(p)
	hc := &container.HealthConfig{
		Interval:    period,
		Timeout:     max(period, 3*time.Second),
		Retries:     3,
		StartPeriod: readyTimeout(spec, svc),
	}
	const checkTimeout = "1s"
	switch p.Type {
	case stack.ProbeExec:
		hc.Test = append([]string{"CMD"}, p.Command...)
	case stack.ProbeTCP:
		hc.Test = []string{"CMD", probePath, "-timeout", checkTimeout, "tcp", "127.0.0.1:" + strconv.Itoa(p.Port)}
	case stack.ProbeHTTP:
		hc.Test = []string{"CMD", probePath, "-timeout", checkTimeout, "http", "http://127.0.0.1:" + strconv.Itoa(p.Port) + pathOrRoot(p.Path)}
		for _, c := range p.ExpectedCodes {
			hc.Test = append(hc.Test, strconv.Itoa(c))
		}
	}
	return hc
}

func pathOrRoot(p string) string {
	if p == "" {
		return "/"
	}
	if !strings.HasPrefix(p, "/") {
		return "/" + p
	}
	return p
}

// hostname is <service>-<n>, cut to a DNS label.
func hostname(svc string, n int) string {
	h := svc + "-" + strconv.Itoa(n)
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

// hostCPUs returns the engine's CPU count; NanoCPUs above it are refused
// by the engine, so a unit larger than the host is capped to the host.
// Until the engine has told, there is no cap.
func (r *Runtime) hostCPUs(ctx context.Context) int {
	r.mu.Lock()
	n := r.ncpu
	r.mu.Unlock()
	if n > 0 {
		return n
	}
	res, err := r.cli.Info(ctx, client.InfoOptions{})
	if err != nil || res.Info.NCPU <= 0 {
		return 1 << 16
	}
	r.mu.Lock()
	r.ncpu = res.Info.NCPU
	r.mu.Unlock()
	return res.Info.NCPU
}

// volumeMount is a named volume of an instance.
type volumeMount struct {
	name, path string
	arg        *stack.VolumeArg
	vol        stack.Volume
}

// volumeMounts returns the named volumes of instance n of a service:
// <deployment>-<stack>-<service>-<n>-<slug of the mount path>.
func (r *Runtime) volumeMounts(spec *runtime.StackSpec, svc *stack.Service, n int) ([]volumeMount, error) {
	slugs := volumeSlugs(svc.VolumeArgs)
	out := make([]volumeMount, 0, len(svc.VolumeArgs))
	for i := range svc.VolumeArgs {
		va := &svc.VolumeArgs[i]
		v, err := spec.Volume(va)
		if err != nil {
			return nil, fmt.Errorf("%w: service %s volume %s: %w", runtime.ErrInvalid, svc.Name, va.MountPath, err)
		}
		out = append(out, volumeMount{
			name: r.volumeName(spec.Deployment, spec.Stack.Name, svc.Name, n, slugs[i]),
			path: va.MountPath, arg: va, vol: v,
		})
	}
	return out, nil
}

// volumeSlugs names volumes after their mount paths ("/var/lib/mysql" is
// "var-lib-mysql"); paths that would share a slug get their index added.
func volumeSlugs(args []stack.VolumeArg) []string {
	slugs := make([]string, len(args))
	count := map[string]int{}
	for i, a := range args {
		s := slug(a.MountPath)
		slugs[i] = s
		count[s]++
	}
	for i, s := range slugs {
		if count[s] > 1 {
			slugs[i] = s + "-" + strconv.Itoa(i)
		}
	}
	return slugs
}

func slug(p string) string {
	p = strings.Trim(path.Clean("/"+p), "/")
	var b strings.Builder
	for _, c := range p {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' {
			b.WriteRune(c)
		} else {
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-.")
	if s == "" {
		return "root"
	}
	return s
}

// ensureVolumes creates the named volumes that do not exist yet, labelled
// with their class and size. Existing volumes are kept as they are: their
// data matters more than a changed size label.
func (r *Runtime) ensureVolumes(ctx context.Context, spec *runtime.StackSpec, svc *stack.Service, n int, vols []volumeMount) error {
	for _, v := range vols {
		_, err := r.cli.VolumeInspect(ctx, v.name, client.VolumeInspectOptions{})
		if err == nil {
			continue
		}
		if !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("inspect volume %s: %w", v.name, err)
		}
		labels := r.lb.base(roleData, spec.Deployment)
		labels[r.lb.key(keyStack)] = spec.Stack.Name
		labels[r.lb.key(keyService)] = svc.Name
		labels[r.lb.key(keyInstance)] = strconv.Itoa(n)
		labels[r.lb.key(keyMountPath)] = v.path
		labels[r.lb.key(keyVolumeType)] = v.arg.UnitType
		labels[r.lb.key(keyVolumeClass)] = v.vol.Class
		labels[r.lb.key(keyVolumeSize)] = strconv.FormatInt(v.vol.SizeBytes, 10)
		if _, err := r.cli.VolumeCreate(ctx, client.VolumeCreateOptions{Name: v.name, Labels: labels}); err != nil {
			if client.IsErrConnectionFailed(err) && ctx.Err() == nil {
				r.undoLostVolume(ctx, v.name)
			}
			return fmt.Errorf("create volume %s: %w", v.name, err)
		}
	}
	return nil
}

// undoLostVolume removes a volume that a create whose answer was lost
// made after all; it did not exist before that create.
func (r *Runtime) undoLostVolume(ctx context.Context, name string) {
	deadline := time.Now().Add(lostAnswerWait)
	for time.Now().Before(deadline) {
		_, err := r.cli.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
		switch {
		case err == nil:
			_, _ = r.cli.VolumeRemove(ctx, name, client.VolumeRemoveOptions{})
			return
		case !cerrdefs.IsNotFound(err):
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// createInstance creates, fills and starts instance n of a service and
// returns its ID. A container that could not be filled or started is
// removed again, so a container that exists was complete.
func (r *Runtime) createInstance(ctx context.Context, spec *runtime.StackSpec, svc *stack.Service, n int, hash string, net netRef) (id string, err error) {
	release, err := r.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	name := r.containerName(spec.Deployment, spec.Stack.Name, svc.Name, n)
	vols, err := r.volumeMounts(spec, svc, n)
	if err != nil {
		return "", err
	}
	if err := r.ensureVolumes(ctx, spec, svc, n, vols); err != nil {
		return "", err
	}
	opts, err := r.createOptions(ctx, spec, svc, n, hash, net, vols)
	if err != nil {
		return "", err
	}
	res, err := r.cli.ContainerCreate(ctx, opts)
	if client.IsErrConnectionFailed(err) && ctx.Err() == nil {
		// The engine may have made it, answering into a broken
		// connection: if so, undo it rather than leave it behind.
		r.undoLostCreate(ctx, name, opts.Config.Labels)
	}
	if cerrdefs.IsConflict(err) {
		// A create whose answer was lost (a broken connection) may
		// have made the container after all; one of ours in the way is
		// such a leftover.
		if !r.isOurs(ctx, name, opts.Config.Labels) {
			return "", fmt.Errorf("create container %s: %w: the name is taken by a container this runtime does not manage: %w", name, runtime.ErrConflict, err)
		}
		r.discard(ctx, name)
		res, err = r.cli.ContainerCreate(ctx, opts)
	}
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			r.discard(ctx, res.ID)
		}
	}()
	if err := r.copyFiles(ctx, res.ID, spec.Files[svc.Name]); err != nil {
		return "", fmt.Errorf("copy config files into %s: %w", name, err)
	}
	if r.readinessMode(svc.Readiness) == modeHealth && svc.Readiness.Type != stack.ProbeExec {
		if err := r.copyProbe(ctx, res.ID); err != nil {
			return "", fmt.Errorf("copy the probe binary into %s: %w", name, err)
		}
	}
	if _, err := r.cli.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		return "", fmt.Errorf("start container %s: %w", name, err)
	}
	return res.ID, nil
}

// discard force-removes a container that failed half-way, even when ctx
// is done.
func (r *Runtime) discard(ctx context.Context, id string) {
	ctx, cancel := contextWithoutCancel(ctx)
	defer cancel()
	// Killed before it is removed: force-removing a running container
	// while others come and go can leak its network endpoint (Engine
	// 20.10), which then blocks removing the network.
	kill := 0
	_, _ = r.cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &kill})
	_, _ = r.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
}

// stopRemove stops a container gracefully and removes it with its
// anonymous volumes; named volumes stay.
func (r *Runtime) stopRemove(ctx context.Context, id string, grace time.Duration) error {
	release, err := r.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	secs := gracePeriod(grace)
	if _, err := r.cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &secs}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("stop container %.12s: %w", id, err)
	}
	_, err = r.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) && !isRemovalInProgress(err) {
		return fmt.Errorf("remove container %.12s: %w", id, err)
	}
	return nil
}

func isRemovalInProgress(err error) bool {
	return cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress")
}

// netRef names the deployment's network.
type netRef struct{ id, name string }

// lostAnswerWait is how long the runtime looks for an object whose create
// request was sent but whose answer was lost.
const lostAnswerWait = 3 * time.Second

// undoLostCreate removes the container called name if a create whose
// answer was lost made it after all.
func (r *Runtime) undoLostCreate(ctx context.Context, name string, labels map[string]string) {
	deadline := time.Now().Add(lostAnswerWait)
	for time.Now().Before(deadline) {
		res, err := r.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
		switch {
		case err == nil:
			if r.sameInstance(res.Container.Config, labels) {
				r.discard(ctx, res.Container.ID)
			}
			return
		case !cerrdefs.IsNotFound(err):
			return // the engine is still out of reach
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (r *Runtime) sameInstance(cfg *container.Config, labels map[string]string) bool {
	if cfg == nil {
		return false
	}
	for _, k := range []string{keyNamespace, keyRole, keyDeployment, keyStack, keyService, keyInstance} {
		if r.lb.get(cfg.Labels, k) != r.lb.get(labels, k) {
			return false
		}
	}
	return true
}

// isOurs reports whether the container called name belongs to the same
// instance as labels: same namespace, deployment, stack, service and
// instance number. A name taken by a create still in progress is not
// found at first, so it looks again for a little while.
func (r *Runtime) isOurs(ctx context.Context, name string, labels map[string]string) bool {
	for range 30 {
		res, err := r.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
		if cerrdefs.IsNotFound(err) {
			select {
			case <-ctx.Done():
				return false
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		return err == nil && r.sameInstance(res.Container.Config, labels)
	}
	return false
}
