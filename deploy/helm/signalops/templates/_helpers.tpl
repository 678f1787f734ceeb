{{/* Names: 63 characters at most (DNS label), no trailing dash. */}}
{{- define "signalops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "signalops.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The name of one component's objects: <fullname>-serve, -work, -migrate. */}}
{{- define "signalops.componentName" -}}
{{- printf "%s-%s" (include "signalops.fullname" .root | trunc 55 | trimSuffix "-") .component }}
{{- end }}

{{- define "signalops.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "signalops.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "signalops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "signalops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one component; call with (dict "root" $ "component" "serve"). */}}
{{- define "signalops.componentLabels" -}}
{{ include "signalops.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "signalops.componentSelectorLabels" -}}
{{ include "signalops.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "signalops.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{- define "signalops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "signalops.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "signalops.secretName" -}}
{{- default (include "signalops.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{/*
The keys of the Secret and the settings they feed (config/config.go reads
NAME_FILE when NAME is unset).
*/}}
{{- define "signalops.secretSettings" -}}
database-url: DATABASE_URL
database-read-url: DATABASE_READ_URL
jwt-secret: JWT_SECRET
secret-key: SECRET_KEY
admin-token: ADMIN_TOKEN
smtp-url: SMTP_URL
secret-key-previous: SECRET_KEY_PREVIOUS
{{- end }}

{{/* Where the Secret is mounted. */}}
{{- define "signalops.secretDir" -}}/run/secrets/signalops{{- end }}

{{/*
The Secret keys serve and work read: the required three plus the optional
ones present (listed in secret.optionalKeys, or given in secret.values).
*/}}
{{- define "signalops.secretKeys" -}}
{{- $keys := list "database-url" "jwt-secret" "secret-key" }}
{{- $optional := list "database-read-url" "admin-token" "smtp-url" "secret-key-previous" }}
{{- if .Values.secret.existingSecret }}
{{- range .Values.secret.optionalKeys }}
{{- if not (has . $optional) }}
{{- fail (printf "secret.optionalKeys: %q is not one of %s" . (join ", " $optional)) }}
{{- end }}
{{- $keys = append $keys . }}
{{- end }}
{{- else }}
{{- $v := .Values.secret.values }}
{{- if $v.databaseReadUrl }}{{ $keys = append $keys "database-read-url" }}{{ end }}
{{- if $v.adminToken }}{{ $keys = append $keys "admin-token" }}{{ end }}
{{- if $v.smtpUrl }}{{ $keys = append $keys "smtp-url" }}{{ end }}
{{- if $v.secretKeyPrevious }}{{ $keys = append $keys "secret-key-previous" }}{{ end }}
{{- end }}
{{- $keys | uniq | toJson }}
{{- end }}

{{/*
Environment of a container: the *_FILE settings for the given Secret keys,
then .Values.config, then the component's own settings. Call with
(dict "root" $ "keys" (list …) "extra" (dict …)).
*/}}
{{- define "signalops.env" -}}
{{- $settings := include "signalops.secretSettings" .root | fromYaml }}
{{- $secretNames := values $settings }}
{{- range .keys }}
- name: {{ get $settings . }}_FILE
  value: {{ printf "%s/%s" (include "signalops.secretDir" $.root) . | quote }}
{{- end }}
{{- $env := merge (dict) (.extra | default dict) (.root.Values.config | default dict) }}
{{- range $name := keys $env | sortAlpha }}
{{- if or (has $name $secretNames) (has (trimSuffix "_FILE" $name) $secretNames) }}
{{- fail (printf "%s is a secret: give it in the Secret (secret.existingSecret or secret.values), not in config or env" $name) }}
{{- end }}
{{- if or (eq $name "HTTP_ADDR") (eq $name "METRICS_ADDR") }}
{{- fail (printf "%s comes from serve.port / work.metricsPort" $name) }}
{{- end }}
{{- $v := get $env $name }}
{{- if and (kindIs "float64" $v) (eq $v (floor $v)) }}{{ $v = int64 $v }}{{ end }}
- name: {{ $name }}
  value: {{ $v | toString | quote }}
{{- end }}
{{- end }}

{{/* The Secret volume with the given keys as files (0440, group fsGroup). */}}
{{- define "signalops.secretVolume" -}}
- name: secrets
  secret:
    secretName: {{ .name }}
    defaultMode: 0440
    items:
    {{- range .keys }}
      - key: {{ . }}
        path: {{ . }}
    {{- end }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end }}

{{- define "signalops.volumeMounts" -}}
- name: secrets
  mountPath: {{ include "signalops.secretDir" . }}
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end }}

{{/*
A component's pod annotations: Prometheus scraping, the checksum of a
chart-made Secret (pods roll when it changes), then the user's. Call with
(dict "root" $ "port" … "extra" …).
*/}}
{{- define "signalops.podAnnotations" -}}
{{- $a := dict }}
{{- if .root.Values.metrics.podAnnotations }}
{{- $_ := set $a "prometheus.io/scrape" "true" }}
{{- $_ := set $a "prometheus.io/port" (toString .port) }}
{{- $_ := set $a "prometheus.io/path" "/metrics" }}
{{- end }}
{{- if not .root.Values.secret.existingSecret }}
{{- $_ := set $a "checksum/secret" (toJson .root.Values.secret.values | sha256sum) }}
{{- end }}
{{- $a = merge (dict) (.extra | default dict) $a }}
{{- if $a }}
annotations:
  {{- toYaml $a | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Pod placement of a component: nodeSelector, affinity, tolerations and
topologySpreadConstraints from its values; a spread constraint without a
labelSelector gets the component's pods as its selector. Call with
(dict "root" $ "component" "serve" "values" .Values.serve).
*/}}
{{- define "signalops.scheduling" -}}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .values.topologySpreadConstraints }}
{{- $selector := dict "matchLabels" (include "signalops.componentSelectorLabels" . | fromYaml) }}
{{- $constraints := list }}
{{- range .values.topologySpreadConstraints }}
{{- $constraints = append $constraints (merge (dict) . (dict "labelSelector" $selector)) }}
{{- end }}
topologySpreadConstraints:
  {{- toYaml $constraints | nindent 2 }}
{{- end }}
{{- end }}
