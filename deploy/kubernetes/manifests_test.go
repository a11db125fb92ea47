// Package kubernetes holds the manifests of this directory. No cluster runs
// them here, so the test decodes every document strictly into its k8s.io/api
// type (an unknown or misspelled field fails) and asserts the rules the
// service depends on.
package kubernetes

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zeromicro/go-zero/core/conf"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"ssehub/internal/config"
)

// The measured memory of a stream (docs/perf.md: 5-6 KiB RSS per stream at
// 10,000-19,500 streams, on ~30 MiB): the memory limit must hold
// Sse.MaxClients of them.
const (
	baseRSS   = 30 << 20
	streamRSS = 6 << 10
)

// kinds are the API types the manifests may hold; any other kind fails.
var kinds = map[string]func() any{
	"apps/v1 Deployment":            func() any { return &appsv1.Deployment{} },
	"v1 Service":                    func() any { return &corev1.Service{} },
	"v1 ConfigMap":                  func() any { return &corev1.ConfigMap{} },
	"policy/v1 PodDisruptionBudget": func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1 Ingress":  func() any { return &networkingv1.Ingress{} },
}

// docSeparator is the line between two YAML documents.
var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decode splits a manifest into its documents and decodes each one into the
// type its apiVersion and kind name, refusing unknown and duplicate fields.
func decode(manifest []byte) ([]any, error) {
	var objs []any
	for i, doc := range docSeparator.Split(string(manifest), -1) {
		raw, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if string(raw) == "null" { // empty or only comments; kubectl skips it too
			continue
		}
		var meta metav1.TypeMeta
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		kind := meta.APIVersion + " " + meta.Kind
		newObj, ok := kinds[kind]
		if !ok {
			return nil, fmt.Errorf("document %d: unknown kind %q", i+1, kind)
		}
		obj := newObj()
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", i+1, kind, err)
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

// manifests decodes every file `kubectl apply -f deploy/kubernetes/` reads.
func manifests(t *testing.T) []any {
	t.Helper()
	var objs []any
	for _, pattern := range []string{"*.yaml", "*.yml", "*.json"} {
		files, err := filepath.Glob(pattern)
		require.NoError(t, err)
		for _, file := range files {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			decoded, err := decode(data)
			require.NoError(t, err, file)
			objs = append(objs, decoded...)
		}
	}
	return objs
}

// one returns the only object of type T.
func one[T any](t *testing.T, objs []any) T {
	t.Helper()
	var found []T
	for _, o := range objs {
		if v, ok := o.(T); ok {
			found = append(found, v)
		}
	}
	require.Len(t, found, 1, "want exactly one %T", *new(T))
	return found[0]
}

// loadConfig loads a config as the service does, conf.UseEnv expanding
// ${VAR} from env; a variable env lacks fails, since the pod would run with
// it empty.
func loadConfig(text string, env map[string]string) (config.Config, error) {
	var c config.Config
	var missing []string
	expanded := os.Expand(text, func(name string) string {
		v, ok := env[name]
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return c, fmt.Errorf("the container does not set %v", missing)
	}
	if err := conf.LoadFromYamlBytes([]byte(expanded), &c); err != nil {
		return c, fmt.Errorf("loading the config: %w", err)
	}
	return c, nil
}

// containerPort resolves p, a number or a port's name, against c's ports.
func containerPort(t *testing.T, c corev1.Container, p intstr.IntOrString) int {
	t.Helper()
	if p.Type == intstr.Int {
		return int(p.IntVal)
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort)
		}
	}
	require.Failf(t, "no such port", "container %s has no port named %q", c.Name, p.StrVal)
	return 0
}

// servicePort is the port of svc an Ingress backend names.
func servicePort(t *testing.T, svc *corev1.Service, b networkingv1.ServiceBackendPort) corev1.ServicePort {
	t.Helper()
	for _, p := range svc.Spec.Ports {
		if b.Name != "" && p.Name == b.Name || b.Name == "" && p.Port == b.Number {
			return p
		}
	}
	require.Failf(t, "no such port", "service %s has no port %+v", svc.Name, b)
	return corev1.ServicePort{}
}

// routes tells whether an Ingress path sends path to its backend.
func routes(p networkingv1.HTTPIngressPath, path string) bool {
	if ptr.Deref(p.PathType, "") == networkingv1.PathTypeExact {
		return p.Path == path
	}
	prefix := strings.TrimSuffix(p.Path, "/")
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

func TestManifests(t *testing.T) {
	objs := manifests(t)
	dep := one[*appsv1.Deployment](t, objs)
	svc := one[*corev1.Service](t, objs)
	pdb := one[*policyv1.PodDisruptionBudget](t, objs)
	ing := one[*networkingv1.Ingress](t, objs)
	cm := one[*corev1.ConfigMap](t, objs)
	pod := dep.Spec.Template.Spec
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]

	// The config the pods run is the ConfigMap's, mounted over the image's,
	// with a sample value for each variable the container sets.
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = "value of " + e.Name
	}
	var volume string
	for _, m := range c.VolumeMounts {
		if m.MountPath == "/etc/ssehub" {
			volume = m.Name
		}
	}
	require.NotEmpty(t, volume, "nothing mounted at /etc/ssehub")
	var text string
	for _, v := range pod.Volumes {
		if v.Name == volume {
			require.NotNil(t, v.ConfigMap, "volume %s", v.Name)
			require.Equal(t, cm.Name, v.ConfigMap.Name)
			require.Empty(t, v.ConfigMap.Items, "the file must keep its key's name")
			text = cm.Data["ssehub.yaml"]
		}
	}
	require.NotEmpty(t, text, "no ssehub.yaml in the mounted ConfigMap")
	cfg, err := loadConfig(text, env)
	require.NoError(t, err)

	t.Run("config", func(t *testing.T) {
		// Apart from the two settings a cluster needs, the pods run the
		// image's config, so a change to it (say Shutdown.WaitTime) is one here.
		image, err := os.ReadFile("../../etc/ssehub.yaml")
		require.NoError(t, err)
		want, err := loadConfig(string(image), env)
		require.NoError(t, err)
		want.Sse.MaxClients, want.Sse.TrustedProxies = cfg.Sse.MaxClients, cfg.Sse.TrustedProxies
		require.Equal(t, want, cfg)
		// Behind the Ingress every stream's peer is a controller pod.
		require.True(t, len(cfg.Sse.TrustedProxies) > 0 || cfg.Sse.MaxClientsPerIP == 0,
			"without TrustedProxies all clients share the controller's MaxClientsPerIP")
	})

	t.Run("redis", func(t *testing.T) {
		// Replicas without a shared Redis would each keep their own history,
		// so the address comes from a Secret key the pod cannot start without.
		require.GreaterOrEqual(t, ptr.Deref(dep.Spec.Replicas, 1), int32(2))
		require.Equal(t, env["SSEHUB_REDIS_ADDR"], cfg.Redis.Addr)
		for _, e := range c.Env {
			if e.Name == "SSEHUB_REDIS_ADDR" {
				require.NotNil(t, e.ValueFrom)
				ref := e.ValueFrom.SecretKeyRef
				require.NotNil(t, ref, "SSEHUB_REDIS_ADDR comes from a Secret")
				require.False(t, ptr.Deref(ref.Optional, false), "SSEHUB_REDIS_ADDR must not be optional")
			}
		}
	})

	t.Run("ports and probes", func(t *testing.T) {
		require.Equal(t, 8080, cfg.Port)
		require.Equal(t, cfg.Port, containerPort(t, c, intstr.FromString("http")))
		for _, p := range []struct {
			probe *corev1.Probe
			path  string
		}{{c.LivenessProbe, "/healthz"}, {c.ReadinessProbe, "/readyz"}} {
			require.NotNil(t, p.probe, p.path)
			get := p.probe.HTTPGet
			require.NotNil(t, get, p.path)
			require.Equal(t, p.path, get.Path)
			require.Contains(t, []corev1.URIScheme{"", corev1.URISchemeHTTP}, get.Scheme)
			require.Equal(t, cfg.Port, containerPort(t, c, get.Port), p.path)
		}
		require.NotEmpty(t, svc.Spec.Ports)
		for _, p := range svc.Spec.Ports {
			require.Equal(t, cfg.Port, containerPort(t, c, p.TargetPort), "service port %s", p.Name)
		}
	})

	t.Run("shutdown", func(t *testing.T) {
		// preStop runs first, then SIGTERM, after which ssehub may take
		// Shutdown.WaitTime; the kubelet kills at the grace period.
		require.NotNil(t, c.Lifecycle)
		require.NotNil(t, c.Lifecycle.PreStop)
		require.NotNil(t, c.Lifecycle.PreStop.Sleep, "the image has no shell: preStop must be a sleep action")
		sleep := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
		require.NotNil(t, pod.TerminationGracePeriodSeconds)
		grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
		require.Greater(t, grace, sleep+cfg.ShutdownWait())
	})

	t.Run("selectors", func(t *testing.T) {
		pods := labels.Set(dep.Spec.Template.Labels)
		sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
		require.NoError(t, err)
		require.True(t, sel.Matches(pods), "deployment selector")
		// An empty selector would pick no pods for a Service, every pod of
		// the namespace for a PodDisruptionBudget.
		require.NotEmpty(t, svc.Spec.Selector)
		require.True(t, labels.SelectorFromSet(svc.Spec.Selector).Matches(pods), "service selector")
		sel, err = metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		require.NoError(t, err)
		require.False(t, sel.Empty())
		require.True(t, sel.Matches(pods), "disruption budget selector")
		// One pod may go at a time; a budget as large as the replicas
		// would block every drain.
		require.Equal(t, intstr.FromInt32(1), ptr.Deref(pdb.Spec.MinAvailable, intstr.IntOrString{}))
		require.Greater(t, ptr.Deref(dep.Spec.Replicas, 1), int32(1))
	})

	t.Run("ingress", func(t *testing.T) {
		require.Equal(t, "nginx", ptr.Deref(ing.Spec.IngressClassName, ""), "the annotations are ingress-nginx's")
		const prefix = "nginx.ingress.kubernetes.io/"
		require.Equal(t, "off", ing.Annotations[prefix+"proxy-buffering"])
		// A stream is quiet between heartbeats; one late heartbeat must not
		// make nginx cut it.
		require.Positive(t, cfg.Sse.HeartbeatInterval)
		for _, name := range []string{"proxy-read-timeout", "proxy-send-timeout"} {
			seconds, err := strconv.Atoi(ing.Annotations[prefix+name])
			require.NoError(t, err, name)
			require.Greater(t, time.Duration(seconds)*time.Second, 2*cfg.Sse.HeartbeatInterval, name)
		}
		var sse, metrics bool
		require.NotEmpty(t, ing.Spec.Rules)
		for _, rule := range ing.Spec.Rules {
			require.NotNil(t, rule.HTTP)
			for _, p := range rule.HTTP.Paths {
				b := p.Backend.Service
				require.NotNil(t, b, p.Path)
				require.Equal(t, svc.Name, b.Name, p.Path)
				port := servicePort(t, svc, b.Port)
				require.Equal(t, cfg.Port, containerPort(t, c, port.TargetPort), p.Path)
				sse = sse || routes(p, "/sse")
				metrics = metrics || routes(p, "/metrics")
			}
		}
		require.True(t, sse, "the Ingress must route /sse")
		require.False(t, metrics, "/metrics names the topics: keep it inside the cluster")
	})

	t.Run("security", func(t *testing.T) {
		sc := c.SecurityContext
		require.NotNil(t, sc)
		require.True(t, ptr.Deref(sc.RunAsNonRoot, false))
		require.Equal(t, int64(10001), ptr.Deref(sc.RunAsUser, 0), "the image's uid")
		require.True(t, ptr.Deref(sc.ReadOnlyRootFilesystem, false))
		require.False(t, ptr.Deref(sc.AllowPrivilegeEscalation, true))
		require.NotNil(t, sc.Capabilities)
		require.Contains(t, sc.Capabilities.Drop, corev1.Capability("ALL"))
	})

	t.Run("resources", func(t *testing.T) {
		require.False(t, c.Resources.Requests.Cpu().IsZero(), "cpu request")
		require.False(t, c.Resources.Requests.Memory().IsZero(), "memory request")
		// Kubernetes cannot set the pod's descriptor limit, so the stream
		// limit is the config's, and the memory limit must hold it.
		require.Positive(t, cfg.Sse.MaxClients, "MaxClients 0 follows the runtime's descriptor limit")
		need := int64(baseRSS + cfg.Sse.MaxClients*streamRSS)
		require.GreaterOrEqual(t, c.Resources.Limits.Memory().Value(), need)
	})
}

// TestDecodeIsStrict shows that decode refuses what kubectl apply's strict
// field validation refuses, so TestManifests' decoding proves something.
func TestDecodeIsStrict(t *testing.T) {
	const deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  %s: 2\n"
	_, err := decode(fmt.Appendf(nil, deployment, "replicas"))
	require.NoError(t, err, "the sample is valid as spelled")
	_, err = decode(fmt.Appendf(nil, deployment, "replica"))
	require.ErrorContains(t, err, `unknown field "replica"`)
	_, err = decode([]byte("apiVersion: apps/v1\nkind: Deploymnet\n"))
	require.ErrorContains(t, err, "unknown kind")
}
