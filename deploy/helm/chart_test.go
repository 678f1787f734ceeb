// Package helm checks the SignalOps Helm chart offline: it renders
// deploy/helm/signalops with Helm's own engine (the Go module, pinned in this
// directory's go.mod) for every values file, decodes each rendered object
// strictly into the Kubernetes API types (an unknown field or a wrong type
// fails), and checks what the chart promises: probes, non-root read-only
// containers, resource requests, secrets only as files, a migration hook,
// and objects that point at each other correctly. No cluster, no network.
//
// It is a module of its own so the main module does not carry Helm and
// client-go; .ci/run runs it.
package helm

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

const chartDir = "signalops"

// valuesFiles are the values files shipped with the chart; "" is the
// defaults alone.
var valuesFiles = []string{"", "values-production.yaml", "values-minimal.yaml"}

// kubeVersion is the oldest Kubernetes the chart targets (Chart.yaml's
// kubeVersion is ">=1.25"; the lifecycle sleep of values-production.yaml
// needs 1.30).
const kubeVersion = "v1.30.0"

func TestChart(t *testing.T) {
	t.Parallel()
	for _, file := range valuesFiles {
		name := file
		if name == "" {
			name = "defaults"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			vals := readValues(t, file)

			t.Run("Lint", func(t *testing.T) {
				kv, err := common.ParseKubeVersion(kubeVersion)
				require.NoError(t, err)
				res := lint.RunAll(chartDir, vals, "signalops", lint.WithKubeVersion(kv))
				for _, m := range res.Messages {
					if m.Severity >= support.WarningSev {
						t.Errorf("helm lint: %s", m)
					}
				}
			})

			t.Run("ValuesKeysExist", func(t *testing.T) {
				if file == "" {
					t.Skip("the defaults are the reference")
				}
				requireKnownKeys(t, readValues(t, ""), vals, "")
			})

			objs := render(t, vals)
			checkObjects(t, objs)
		})
	}
}

// TestChartRefuses: values the chart must refuse with a message naming the
// problem, instead of rendering pods that crash.
func TestChartRefuses(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		set     string // YAML given as a values file
		wantErr string
	}{
		{"SecretInConfig", "config: {JWT_SECRET: x}", "JWT_SECRET is a secret"},
		{"SecretFileInEnv", "serve: {env: {DATABASE_URL_FILE: /x}}", "DATABASE_URL_FILE is a secret"},
		{"ListenAddressInConfig", "config: {HTTP_ADDR: ':8080'}", "HTTP_ADDR comes from serve.port"},
		{"NoDatabaseURLForChartSecret", "secret: {existingSecret: ''}", "secret.values.databaseUrl is required"},
		{"NoJWTSecretForChartSecret", "secret: {existingSecret: '', values: {databaseUrl: 'postgres://x/y'}}", "secret.values.jwtSecret is required"},
		{"UnknownOptionalKey", "secret: {optionalKeys: [database-pasword]}", `"database-pasword" is not one of`},
		{"MinAboveMax", "serve: {autoscaling: {minReplicas: 5, maxReplicas: 3}}", "minReplicas must not exceed maxReplicas"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var over map[string]any
			require.NoError(t, yaml.Unmarshal([]byte(tt.set), &over))
			_, err := renderErr(t.Context(), over) // merged over values.yaml, as helm -f does
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func readValues(t *testing.T, file string) map[string]any {
	t.Helper()
	if file == "" {
		file = "values.yaml"
	}
	v, err := common.ReadValuesFile(filepath.Join(chartDir, file))
	require.NoError(t, err)
	return v.AsMap()
}

// object is one rendered Kubernetes object, decoded into its API type.
type object struct {
	source string // template file
	gvk    schema.GroupVersionKind
	obj    runtime.Object
	meta   metaObject
}

type metaObject interface {
	GetName() string
	GetNamespace() string
	GetLabels() map[string]string
	GetAnnotations() map[string]string
}

func render(t *testing.T, vals map[string]any) []object {
	t.Helper()
	objs, err := renderErr(t.Context(), vals)
	require.NoError(t, err)
	require.NotEmpty(t, objs)
	return objs
}

// renderErr does what `helm template` does (release "so" in namespace
// "signalops", an install) and decodes every document strictly.
func renderErr(ctx context.Context, vals map[string]any) ([]object, error) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return nil, err
	}
	kv, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		return nil, err
	}
	caps := common.DefaultCapabilities.Copy()
	caps.KubeVersion = *kv
	top, err := util.ToRenderValues(ch, vals, common.ReleaseOptions{
		Name: "so", Namespace: "signalops", Revision: 1, IsInstall: true,
	}, caps)
	if err != nil {
		return nil, err
	}
	files, err := engine.Engine{Strict: true}.RenderWithContext(ctx, ch, top)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []object
	for _, name := range names {
		if !strings.HasSuffix(name, ".yaml") {
			continue // NOTES.txt, _helpers.tpl
		}
		for _, doc := range splitDocuments(files[name]) {
			o, err := decodeStrict(name, doc)
			if err != nil {
				return nil, err
			}
			out = append(out, o)
		}
	}
	return out, nil
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

func splitDocuments(s string) []string {
	var docs []string
	for _, d := range docSep.Split(s, -1) {
		if strings.TrimSpace(stripComments(d)) != "" {
			docs = append(docs, d)
		}
	}
	return docs
}

func stripComments(s string) string {
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// typeScheme knows the Kubernetes API types and prometheus-operator's.
var typeScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := scheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := monitoringv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

// decodeStrict decodes one YAML document into the Go type registered for
// its apiVersion and kind: unknown or duplicate fields and values of the
// wrong type are errors.
func decodeStrict(source, doc string) (object, error) {
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
		return object{}, wrap(source, "not YAML", err)
	}
	gv, err := schema.ParseGroupVersion(tm.APIVersion)
	if err != nil {
		return object{}, wrap(source, "apiVersion", err)
	}
	gvk := gv.WithKind(tm.Kind)
	obj, err := typeScheme.New(gvk)
	if err != nil {
		return object{}, wrap(source, "unknown type "+gvk.String(), err)
	}
	if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
		return object{}, wrap(source, "decode "+gvk.Kind, err)
	}
	meta, ok := obj.(metaObject)
	if !ok {
		return object{}, wrap(source, gvk.Kind+" has no object metadata", nil)
	}
	return object{source: source, gvk: gvk, obj: obj, meta: meta}, nil
}

type renderError struct{ msg string }

func (e renderError) Error() string { return e.msg }

func wrap(source, what string, err error) error {
	msg := source + ": " + what
	if err != nil {
		msg += ": " + err.Error()
	}
	return renderError{msg}
}

// requireKnownKeys fails for every key of over that values.yaml does not
// have (a typo would otherwise be ignored silently). Maps that are empty in
// the defaults, and those rendered verbatim into Kubernetes objects (whose
// fields the strict decoding checks), take any key.
func requireKnownKeys(t *testing.T, defaults, over map[string]any, path string) {
	t.Helper()
	verbatim := map[string]bool{"config": true, "resources": true, "podSecurityContext": true,
		"securityContext": true, "readinessProbe": true, "livenessProbe": true, "behavior": true}
	for k, v := range over {
		p := strings.TrimPrefix(path+"."+k, ".")
		d, ok := defaults[k]
		if !ok {
			t.Errorf("%s is not a key of values.yaml", p)
			continue
		}
		dm, dIsMap := d.(map[string]any)
		vm, vIsMap := v.(map[string]any)
		if dIsMap && vIsMap && len(dm) > 0 && !verbatim[k] {
			requireKnownKeys(t, dm, vm, p)
		}
	}
}

// documentedSettings are the variables env.sample documents.
func documentedSettings(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../../env.sample")
	require.NoError(t, err)
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#?([A-Z][A-Z0-9_]+)=`).FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = true
	}
	require.Contains(t, out, "DATABASE_URL")
	return out
}
