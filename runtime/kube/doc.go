// Package kube runs stackwave stacks on a Kubernetes cluster through
// client-go. It implements runtime.Runtime, runtime.Lifecycle,
// runtime.VolumeLister, runtime.LogReader and runtime.ErrorMapper, and
// passes runtime/runtimetest against a real API server.
//
//	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
//	...
//	rt, err := kube.New(cfg, &kube.Options{BaseDomain: "apps.example.com"})
//	...
//	defer rt.Close()
//	ex := deploy.New(rt, st, nil) // Concurrency: the runtime's hint, 64
//
// # Objects
//
// By default each deployment gets a namespace of its own,
// "stackwave-<deployment>" (Options.NamespacePrefix), labelled with the
// deployment. The first Apply creates it; the Remove that leaves nothing
// of the runtime's in it deletes it, so a terminated deployment leaves
// nothing but the volumes it kept (and their namespace). With
// Options.Namespace, every deployment lives in that one namespace instead,
// which the runtime neither creates nor deletes; object names then start
// with "<deployment>-" and label selectors keep deployments apart.
//
// A service of a stack becomes:
//
//   - a Deployment named "<stack>-<service>" with instances as replicas, or a
//     StatefulSet of that name when the service has volume_args, with one
//     volumeClaimTemplate per volume (named after its mount path, so
//     "/var/lib/mysql" gives claims "var-lib-mysql-<stack>-<service>-<n>"),
//     ReadWriteOnce, sized by the volume type, its storage class found in
//     Options.StorageClasses by the volume class (the cluster's default
//     class when missing), pods managed in parallel and claims kept when
//     the StatefulSet is deleted or scaled down;
//   - one container named after the service, with the image as given, the
//     command as args (the image's entrypoint stays, as on Docker), envs in
//     order (a repeated key keeps its last value) and requests equal to
//     limits from the unit type, so pods get the Guaranteed QoS class.
//     "$(" in envs and the command is escaped, so the kubelet passes values
//     as written rather than expanding references;
//   - an immutable ConfigMap "<stack>-<service>-files-<content hash>" of
//     its rendered config files (StackSpec.Files), each mounted read-only at
//     its path through subPath; changed files are a new ConfigMap, so a pod
//     of the old version that restarts mid-rollout keeps its own files, and
//     one that no pod of the service mounts any more is deleted by a later
//     Apply;
//   - for internal_ip and domain access points a ClusterIP Service
//     "<stack>-<service>", the name other services of the deployment reach
//     it by (deploy's config templates call it .Services[...].Alias); for
//     public_ip ones a Service "<stack>-<service>-public" of type
//     Options.PublicServiceType (LoadBalancer by default, or NodePort), whose
//     host_ports become the load balancer's ports or the node ports; for
//     domain ones an Ingress routing <service>.<stack>.<deployment>.<base
//     domain> to the first domain port (further ones get
//     <service>-<port>.<stack>...), with Options.IngressClassName.
//
// Pods run without service links and without a service-account token, and
// get Options.GracePeriod (10s by default) to stop. Options.PodLabels,
// Options.PodAnnotations and the Options.PodTemplate hook add what the
// model does not say: node selectors, tolerations, sidecar annotations.
//
// Everything carries app.kubernetes.io/managed-by=stackwave,
// app.kubernetes.io/name=<service>, app.kubernetes.io/component (service
// or init-script) and the stackwave.io/deployment, stack, service and tier
// labels (the tier stays off pod templates, so moving a stack to another
// tier restarts nothing). Annotations hold runtime.ServiceHash
// (AnnotationConfigHash), the instance count, the product, its ID and
// version ID, and the access points. They are the runtime's only state:
// Observe, and a Runtime made after the control plane restarted, read
// everything back from the cluster.
//
// # Apply
//
// Every write is a server-side apply with field manager "stackwave"
// (Options.FieldManager), forcing conflicts: the runtime owns these
// objects and takes back fields someone else changed. Apply compares each
// object's config hash, labels, annotations and replica count with what
// the runtime's watch cache holds and sends only objects that differ, so
// applying an unchanged stack sends no request and changes no object's
// resourceVersion. A new version of an unchanged service rewrites its
// workload's labels only; its pods stay. A changed service rolls out new
// pods (the Deployment's rolling update; new pods before old ones go); a
// changed instance count scales without replacing pods, and scaling a
// Deployment down first gives the newest pods a lower
// controller.kubernetes.io/pod-deletion-cost, so the oldest stay. A
// StatefulSet whose volumes change is recreated (claim templates cannot
// change). Services no longer in the spec, and objects a service no longer
// needs, are deleted.
//
// # Readiness
//
// Probes become readinessProbes: tcp as tcpSocket, http as httpGet (the
// kubelet counts 200 to 399 as ready; expected codes outside that range
// are refused as runtime.ErrInvalid), exec as exec; the period becomes
// periodSeconds (1 by default). The running probe, or none, needs no
// probe: a pod is ready once its containers run.
//
// The Runtime holds one shared informer per kind it manages (Deployments,
// StatefulSets, Pods, Services, Ingresses, ConfigMaps, Jobs,
// PersistentVolumeClaims), started by the first call and stopped by Close,
// limited to objects labelled managed-by stackwave (and to
// Options.Namespace when set) and indexed by stack. Wait reads them and
// is woken by their events; it never polls the API server. A service is
// ready as kstatus judges its workload: the workload carries the spec's
// config hash and replica count, its generation is at least the one this
// runtime last wrote, the controller has observed that generation, and
// updated, ready and available replicas equal the desired count with no
// older pods left (for a StatefulSet, its current revision is also the
// update revision).
//
// Wait fails at once, without waiting out a timeout, when a pod of the
// current configuration fails: a container waiting in CrashLoopBackOff,
// CreateContainerConfigError or another state that does not heal by
// itself (runtime.ErrFailed), in ImagePullBackOff, ErrImagePull or
// InvalidImageName (runtime.ErrImage), a container that terminated, a pod
// in phase Failed, or a Deployment past its progress deadline
// (ProgressDeadlineExceeded). The *runtime.ServiceError names the pod as
// Instance and carries the kubelet's reason ("CrashLoopBackOff",
// "ImagePullBackOff", "Exited" for a plain exit, "OOMKilled"...), its
// message, the exit code of the container's last run and, read through
// the API server, its last Options.LogLines log lines. A service not
// ready by its probe's timeout (or StackSpec.ReadyTimeout) fails with
// runtime.ErrNotReady, reason "Timeout", saying what it still waits for
// (for example "0 of 1 instances ready; web-x: Unschedulable: ..."),
// unless the API server cannot be reached then: the watches saw nothing,
// and the error matches runtime.ErrUnavailable instead. Waiting for a
// stopped stack fails with reason "Stopped".
//
// While a service's pods cannot be scheduled, Wait also looks at the
// nodes and at its pending PersistentVolumeClaims (at most every 2
// seconds; it needs list rights on nodes, storageclasses and
// persistentvolumes, and keeps waiting without them). A pod that requests
// more CPU or memory than any node has allocatable fails the wait at once
// with reason "Unschedulable", naming the request and the largest node. A
// claim that nothing can bind fails the wait at once
// with reason "ClaimCannotBind" and the fix: no storage class set and no
// default StorageClass, or an empty class, with no PersistentVolume it
// could take; or a class that does not exist. A claim that may still bind
// (a provisioner that is slow, a class without a provisioner whose
// volumes are made by hand) keeps the wait going, and a timeout names the
// claim's cause.
//
// # Init scripts
//
// RunInit runs an init script as a Job in the stack's namespace: the
// service's image, env and config files, the script as the container's
// command (replacing the entrypoint, as an exec would), restartPolicy
// Never and no retries. Its name, "<stack>-init-<index>-<hash>", comes
// from the stack spec's runtime.StackHash, so an executor that resumes
// finds the Job an earlier one started: a Job that succeeded counts as
// done, a running one is waited for, a failed one is run again. The Job
// does not mount the service's volumes (a ReadWriteOnce claim belongs to
// the service's pod); scripts reach the service over the network.
//
// # Remove, Stop, Start, Restart
//
// Remove deletes a stack's workloads and Jobs with foreground propagation,
// and its Services, Ingresses and ConfigMaps, and waits until they and
// their pods are gone. With RemoveOptions.GracePeriod the pods are deleted
// with that grace period. PersistentVolumeClaims stay unless DeleteData is
// set; then they are deleted too, once no pod uses them, including those
// an earlier Remove kept; Volumes lists them meanwhile. The executor
// removes the stacks of a deployment tier by tier, last tier first.
//
// RemoveDeployment (runtime.DeploymentRemover) is what the executor's
// Terminate calls first: it deletes the deployment's own namespace with
// background propagation, asks at once for the deletion of what it
// holds, every kind in parallel (pods keep their grace period; the
// namespace controller would start 5 s later, come back after half the
// pods' grace period if they were still terminating, then delete kind
// after kind in series), and watches until the namespace is gone. It
// declines with runtime.ErrNotSupported, changing nothing, when claims
// would be lost (the namespace holds claims and DeleteData is not set),
// with Options.Namespace, or with a grace period; the executor then
// removes stack by stack as above, keeping the claims.
//
// Stop scales a stack's workloads to zero and waits until the pods are
// gone; the instance count stays in an annotation, so Observe reports the
// stack as Stopped with its desired counts. Start applies the spec, which
// scales them back. Restart sets a restart time on the pod templates, as
// `kubectl rollout restart` does, written by a field manager of its own
// ("stackwave-restart") so that a later Apply neither removes it nor
// restarts the pods again.
//
// # Observe
//
// Observe reads a deployment's workloads, pods, Services and Ingresses
// and reports stacks by tier and name,
// services by name and pods as instances (running when every container
// runs, ready by the pod's Ready condition); objects being deleted are
// left out. Endpoints give, per access point port, the ClusterIP Service's
// address and name (Address "10.96.3.7:3306", Internal
// "mysql-cluster-mysql-1:3306"), the load balancer's address or, with
// Options.NodeAddress, the node port for public_ip, and the Ingress host
// for domain.
//
// Before the runtime's watches run, Observe reads the objects with five
// list requests. Once they run (an Apply or Wait started them, as in a
// command that deploys and then reports), it reads them from the watches'
// caches, after five lists of the objects' metadata alone confirm that
// the caches hold every object the API server holds, each at its current
// resourceVersion, and nothing else. A change the watches have not
// delivered yet (a pod deleted with kubectl a moment ago) fails that
// check, and Observe lists in full instead: the report is never older
// than the call. The metadata lists cost the API server and the client
// far less than full objects; for 100 stacks, see BENCHMARKS.md.
//
// # Client and concurrency
//
// The runtime's client uses Options.QPS and Options.Burst, 500 and 1,000 by
// default instead of client-go's 5 and 10 (see DefaultQPS), and speaks
// protobuf, as the cluster's controllers do, unless the rest.Config names
// its content types. Launching a
// stack takes one request per object (a service without access points,
// volumes or files has only its Deployment), and the Applies of a tier
// share the one that creates the namespace: a tier of 100 such stacks is
// 101 requests. The executor's Concurrency bounds how
// many Applies are in flight; each is a few short requests, so wide tiers
// launch faster with 64 than with 8 or 32: the runtime's Concurrency hint
// (runtime.ConcurrencyHinter) is 64, and the executor takes it when its
// own Concurrency option is zero. Calls for different
// stacks run concurrently; within a call, the services of a stack are
// applied concurrently.
//
// # Permissions
//
// With a namespace per deployment the runtime creates, gets and deletes
// namespaces, and lists and watches its kinds in all namespaces; with
// Options.Namespace it needs rights in that namespace only: get, list,
// watch, create, patch and delete on deployments, statefulsets, jobs, services,
// ingresses, configmaps and persistentvolumeclaims, and pods (plus
// pods/log to read the logs of failed pods). With a namespace per
// deployment, deletecollection on those kinds (and on replicasets,
// endpointslices and events) lets a deployment's teardown ask for all of
// it at once (see RemoveDeployment); without it the namespace controller
// deletes them, seconds later.
//
// # Errors
//
// Methods return the API server's errors wrapped with context, and
// *runtime.ServiceError for what a service or init script did. MapError
// (used by runtime.MapError) turns the API server's errors into the
// runtime package's sentinels: NotFound into ErrNotFound, Conflict into
// ErrConflict, Invalid into ErrInvalid, timeouts, throttling, an
// unavailable server and refused or broken connections into
// ErrUnavailable. A cancelled context makes every method return promptly
// with an error wrapping ctx.Err().
//
// # Testing
//
// The tests of this package run against the control plane of
// internal/kubetest: kube-apiserver, kube-controller-manager,
// kube-scheduler, etcd and kwok, which stands in for kubelets. Pods that
// must fail or become ready late are annotated for kwok to leave alone
// (through Options.PodTemplate), and the tests write their status as a
// kubelet would. The control plane has no volume provisioner, so the tests
// make a StorageClass with volumeBindingMode Immediate and, for each claim
// of that class, a PersistentVolume bound to it in advance; the
// PersistentVolume controller then binds the pair and the scheduler places
// the pod.
package kube
