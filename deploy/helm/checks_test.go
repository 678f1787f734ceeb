package helm

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// rendered indexes one rendering's objects.
type rendered struct {
	objs        []object
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	secrets     map[string]*corev1.Secret
	jobs        []*batchv1.Job
}

func index(t *testing.T, objs []object) rendered {
	t.Helper()
	r := rendered{objs: objs, deployments: map[string]*appsv1.Deployment{},
		services: map[string]*corev1.Service{}, secrets: map[string]*corev1.Secret{}}
	seen := map[string]string{}
	for _, o := range objs {
		key := o.gvk.Kind + "/" + o.meta.GetName()
		if prev, dup := seen[key]; dup {
			t.Errorf("%s rendered twice (%s and %s)", key, prev, o.source)
		}
		seen[key] = o.source
		require.Empty(t, o.meta.GetNamespace(), "%s: the release's namespace is helm's to set", key)
		require.NotEmpty(t, o.meta.GetLabels()["app.kubernetes.io/instance"], "%s has no instance label", key)
		switch v := o.obj.(type) {
		case *appsv1.Deployment:
			r.deployments[v.Name] = v
		case *corev1.Service:
			r.services[v.Name] = v
		case *corev1.Secret:
			r.secrets[v.Name] = v
		case *batchv1.Job:
			r.jobs = append(r.jobs, v)
		}
	}
	return r
}

// checkObjects checks one rendering against what the chart promises.
func checkObjects(t *testing.T, objs []object) {
	r := index(t, objs)
	documented := documentedSettings(t)

	t.Run("ServeAndWork", func(t *testing.T) {
		require.Contains(t, r.deployments, "so-signalops-serve")
		require.Contains(t, r.deployments, "so-signalops-work")
		for name, d := range r.deployments {
			sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
			require.NoError(t, err)
			require.True(t, sel.Matches(labels.Set(d.Spec.Template.Labels)), "%s: the selector does not select its own pods", name)
			role := strings.TrimPrefix(name, "so-signalops-")
			c := d.Spec.Template.Spec.Containers[0]
			require.Equal(t, []string{role}, c.Args, name)
			requireProbe(t, name+" readiness", c, c.ReadinessProbe, "/readyz")
			requireProbe(t, name+" liveness", c, c.LivenessProbe, "/healthz")
			checkPod(t, name, d.Spec.Template, r, documented)
			if d.Spec.Template.Annotations["prometheus.io/scrape"] == "true" {
				port, err := strconv.Atoi(d.Spec.Template.Annotations["prometheus.io/port"])
				require.NoError(t, err)
				require.True(t, declaresPort(c, int32(port)), "%s: scraped port %d is not a container port", name, port)
				require.Equal(t, "/metrics", d.Spec.Template.Annotations["prometheus.io/path"])
			}
			require.NotNil(t, d.Spec.Template.Spec.TerminationGracePeriodSeconds)
		}
		serve := r.deployments["so-signalops-serve"]
		require.Equal(t, ":"+strconv.Itoa(int(serve.Spec.Template.Spec.Containers[0].Ports[0].ContainerPort)),
			envValue(serve.Spec.Template.Spec.Containers[0], "HTTP_ADDR"))
		work := r.deployments["so-signalops-work"]
		require.Equal(t, ":"+strconv.Itoa(int(work.Spec.Template.Spec.Containers[0].Ports[0].ContainerPort)),
			envValue(work.Spec.Template.Spec.Containers[0], "METRICS_ADDR"))
		// work needs QUEUE_SHUTDOWN_TIMEOUT twice over (soft stop, then cancel).
		require.GreaterOrEqual(t, *work.Spec.Template.Spec.TerminationGracePeriodSeconds, int64(50))
		require.GreaterOrEqual(t, *serve.Spec.Template.Spec.TerminationGracePeriodSeconds, int64(20))
	})

	t.Run("MigrationHook", func(t *testing.T) {
		require.Len(t, r.jobs, 1)
		j := r.jobs[0]
		hooks := strings.Split(j.Annotations["helm.sh/hook"], ",")
		require.ElementsMatch(t, []string{"pre-install", "pre-upgrade"}, hooks)
		c := j.Spec.Template.Spec.Containers[0]
		require.Equal(t, []string{"migrate", "up"}, c.Args)
		require.Equal(t, corev1.RestartPolicyNever, j.Spec.Template.Spec.RestartPolicy)
		checkPod(t, j.Name, j.Spec.Template, r, documented)
		// Whatever the Job reads must exist before the release's objects:
		// a hook Secret with a lower weight, or one made outside the chart.
		for _, v := range j.Spec.Template.Spec.Volumes {
			if v.Secret == nil {
				continue
			}
			if s, ok := r.secrets[v.Secret.SecretName]; ok {
				require.Contains(t, s.Annotations["helm.sh/hook"], "pre-install", "the Job's Secret %s would not exist yet", s.Name)
				w, _ := strconv.Atoi(s.Annotations["helm.sh/hook-weight"])
				jw, _ := strconv.Atoi(j.Annotations["helm.sh/hook-weight"])
				require.Less(t, w, jw, "the Job's Secret must be made before the Job")
			}
		}
		if sa := j.Spec.Template.Spec.ServiceAccountName; sa != "" {
			for _, o := range r.objs {
				require.False(t, o.gvk.Kind == "ServiceAccount" && o.meta.GetName() == sa,
					"the Job uses ServiceAccount %s, which the chart makes only after the hook", sa)
			}
		}
	})

	t.Run("ServicesSelectPods", func(t *testing.T) {
		require.Contains(t, r.services, "so-signalops-serve")
		for name, s := range r.services {
			d := podsOf(t, r, labels.SelectorFromSet(s.Spec.Selector))
			require.NotNil(t, d, "Service %s selects no Deployment's pods", name)
			for _, p := range s.Spec.Ports {
				require.True(t, declaresPortName(d.Spec.Template.Spec.Containers[0], p.TargetPort.String()),
					"Service %s targets port %q, which %s does not declare", name, p.TargetPort.String(), d.Name)
			}
		}
	})

	t.Run("Scaling", func(t *testing.T) {
		for _, o := range r.objs {
			switch v := o.obj.(type) {
			case *autoscalingv2.HorizontalPodAutoscaler:
				d, ok := r.deployments[v.Spec.ScaleTargetRef.Name]
				require.True(t, ok, "HPA %s scales %s, which is not rendered", v.Name, v.Spec.ScaleTargetRef.Name)
				require.Equal(t, "Deployment", v.Spec.ScaleTargetRef.Kind)
				require.Nil(t, d.Spec.Replicas, "%s: replicas must be left to the HPA", d.Name)
				require.NotEmpty(t, d.Spec.Template.Spec.Containers[0].Resources.Requests.Cpu().String(),
					"a CPU utilisation target needs a CPU request")
				require.LessOrEqual(t, *v.Spec.MinReplicas, v.Spec.MaxReplicas)
			case *policyv1.PodDisruptionBudget:
				sel, err := metav1.LabelSelectorAsSelector(v.Spec.Selector)
				require.NoError(t, err)
				require.NotNil(t, podsOf(t, r, sel), "PDB %s selects no pods", v.Name)
				require.True(t, (v.Spec.MinAvailable == nil) != (v.Spec.MaxUnavailable == nil), "PDB %s: one of minAvailable, maxUnavailable", v.Name)
			}
		}
	})

	t.Run("MetricsAndIngress", func(t *testing.T) {
		for _, o := range r.objs {
			switch v := o.obj.(type) {
			case *monitoringv1.ServiceMonitor:
				sel, err := metav1.LabelSelectorAsSelector(&v.Spec.Selector)
				require.NoError(t, err)
				matched := map[string]bool{}
				for _, s := range r.services {
					if !sel.Matches(labels.Set(s.Labels)) {
						continue
					}
					for _, p := range s.Spec.Ports {
						matched[p.Name] = true
					}
				}
				for _, ep := range v.Spec.Endpoints {
					require.True(t, matched[ep.Port], "ServiceMonitor endpoint port %q is on no selected Service", ep.Port)
				}
			case *networkingv1.Ingress:
				for _, rule := range v.Spec.Rules {
					for _, p := range rule.HTTP.Paths {
						s, ok := r.services[p.Backend.Service.Name]
						require.True(t, ok, "Ingress backend %s is not rendered", p.Backend.Service.Name)
						found := false
						for _, sp := range s.Spec.Ports {
							found = found || sp.Name == p.Backend.Service.Port.Name
						}
						require.True(t, found, "Ingress backend port %q is not on %s", p.Backend.Service.Port.Name, s.Name)
					}
				}
			}
		}
	})
}

// checkPod: non-root, read-only root filesystem, no privilege, requests and
// a memory limit, no service-account token, and secrets only as files from
// a mounted Secret that holds the key (chart-made) or is managed outside.
func checkPod(t *testing.T, name string, pod corev1.PodTemplateSpec, r rendered, documented map[string]bool) {
	t.Helper()
	spec := pod.Spec
	require.NotNil(t, spec.SecurityContext, name)
	require.True(t, ptrTrue(spec.SecurityContext.RunAsNonRoot), "%s: runAsNonRoot", name)
	require.NotNil(t, spec.SecurityContext.RunAsUser, name)
	require.NotZero(t, *spec.SecurityContext.RunAsUser, "%s runs as root", name)
	require.False(t, ptrTrue(spec.AutomountServiceAccountToken), "%s mounts a service-account token it never uses", name)
	for _, c := range spec.Containers {
		where := name + "/" + c.Name
		sc := c.SecurityContext
		require.NotNil(t, sc, where)
		require.True(t, ptrTrue(sc.ReadOnlyRootFilesystem), "%s: readOnlyRootFilesystem", where)
		require.NotNil(t, sc.AllowPrivilegeEscalation, where)
		require.False(t, *sc.AllowPrivilegeEscalation, "%s: allowPrivilegeEscalation", where)
		require.NotNil(t, sc.Capabilities, where)
		require.Contains(t, sc.Capabilities.Drop, corev1.Capability("ALL"), where)
		require.False(t, c.Resources.Requests.Cpu().IsZero(), "%s: no CPU request", where)
		require.False(t, c.Resources.Requests.Memory().IsZero(), "%s: no memory request", where)
		require.False(t, c.Resources.Limits.Memory().IsZero(), "%s: no memory limit", where)
		require.LessOrEqual(t, c.Resources.Requests.Memory().Cmp(*c.Resources.Limits.Memory()), 0, "%s: request above limit", where)

		mounts := map[string]string{} // volume → mount path
		for _, m := range c.VolumeMounts {
			mounts[m.Name] = m.MountPath
			if m.MountPath != "/tmp" {
				require.True(t, m.ReadOnly, "%s: %s is mounted writable", where, m.MountPath)
			}
		}
		for _, e := range c.Env {
			require.Nil(t, e.ValueFrom, "%s: %s comes from valueFrom; secrets are files (*_FILE)", where, e.Name)
			require.True(t, documented[e.Name] || documented[strings.TrimSuffix(e.Name, "_FILE")],
				"%s sets %s, which env.sample does not document (a typo, or undocumented)", where, e.Name)
			for _, secret := range []string{"DATABASE_URL", "DATABASE_READ_URL", "JWT_SECRET", "SECRET_KEY", "ADMIN_TOKEN", "SMTP_URL", "SECRET_KEY_PREVIOUS"} {
				require.NotEqual(t, secret, e.Name, "%s: %s in plain env; it belongs in the Secret", where, e.Name)
			}
			if strings.HasSuffix(e.Name, "_FILE") {
				requireSecretFile(t, where, e, spec, mounts, r)
			}
		}
	}
}

// requireSecretFile: the file e names is a key of a Secret volume mounted
// in the container, and a chart-made Secret holds that key.
func requireSecretFile(t *testing.T, where string, e corev1.EnvVar, spec corev1.PodSpec, mounts map[string]string, r rendered) {
	t.Helper()
	dir, file := path.Split(e.Value)
	for _, v := range spec.Volumes {
		if v.Secret == nil || path.Clean(mounts[v.Name]) != path.Clean(dir) {
			continue
		}
		for _, it := range v.Secret.Items {
			if it.Path != file {
				continue
			}
			require.Equal(t, int32(0o440), *v.Secret.DefaultMode, "%s: secret files are 0440", where)
			if s, made := r.secrets[v.Secret.SecretName]; made {
				_, ok := s.StringData[it.Key]
				require.True(t, ok, "%s: %s reads key %s, which Secret %s lacks", where, e.Name, it.Key, s.Name)
			}
			return
		}
	}
	t.Errorf("%s: %s=%s is not a file of a mounted Secret", where, e.Name, e.Value)
}

func requireProbe(t *testing.T, what string, c corev1.Container, p *corev1.Probe, wantPath string) {
	t.Helper()
	require.NotNil(t, p, what)
	require.NotNil(t, p.HTTPGet, what)
	require.Equal(t, wantPath, p.HTTPGet.Path, what)
	require.True(t, declaresPortName(c, p.HTTPGet.Port.String()), "%s probes port %q, not declared", what, p.HTTPGet.Port.String())
	require.Positive(t, p.PeriodSeconds, what)
}

func declaresPort(c corev1.Container, port int32) bool {
	for _, p := range c.Ports {
		if p.ContainerPort == port {
			return true
		}
	}
	return false
}

func declaresPortName(c corev1.Container, name string) bool {
	for _, p := range c.Ports {
		if p.Name == name || fmt.Sprint(p.ContainerPort) == name {
			return true
		}
	}
	return false
}

func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func podsOf(t *testing.T, r rendered, sel labels.Selector) *appsv1.Deployment {
	t.Helper()
	var found *appsv1.Deployment
	for _, d := range r.deployments {
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			require.Nil(t, found, "selector %s matches the pods of %s and %s", sel, d.Name, found)
			found = d
		}
	}
	return found
}

func ptrTrue(b *bool) bool { return b != nil && *b }
