{{/* Chart name, overridable. */}}
{{- define "netpol.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every object name: the release name, plus the chart name unless it is in it. */}}
{{- define "netpol.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := include "netpol.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "netpol.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "netpol.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of one component (pass a dict: root, component). */}}
{{- define "netpol.selectorLabels" -}}
app.kubernetes.io/name: {{ include "netpol.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "netpol.webhook.name" -}}
{{ include "netpol.fullname" . }}-webhook
{{- end }}

{{- define "netpol.enforcer.name" -}}
{{ include "netpol.fullname" . }}-enforcer
{{- end }}

{{/* The Secret of the webhook's serving certificate. */}}
{{- define "netpol.webhook.secretName" -}}
{{ default (printf "%s-tls" (include "netpol.webhook.name" .)) .Values.webhook.certs.secretName }}
{{- end }}

{{/* Image reference of a component (pass its values). */}}
{{- define "netpol.image" -}}
{{ .image.repository }}:{{ default .root.Chart.AppVersion .image.tag }}
{{- end }}

{{/* Whether the webhook manages its own certificates. */}}
{{- define "netpol.webhook.selfManaged" -}}
{{- if eq .Values.webhook.certs.mode "self-managed" }}true{{ end }}
{{- end }}

{{/* What both webhooks of the ValidatingWebhookConfiguration share. */}}
{{- define "netpol.webhook.common" -}}
clientConfig:
  service:
    name: {{ include "netpol.webhook.name" . }}
    namespace: {{ .Release.Namespace }}
    path: /validate
    port: {{ int64 .Values.webhook.servicePort }}
sideEffects: None
admissionReviewVersions: [v1]
timeoutSeconds: {{ int64 .Values.webhook.timeoutSeconds }}
matchPolicy: Equivalent
# Never the webhook's own namespace (it must be able to start), nor opted-out namespaces.
# The API server applies this only to namespaced objects.
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: [{{ .Release.Namespace }}]
    - key: {{ .Values.webhook.optOutLabel }}
      operator: NotIn
      values: [disabled]
{{- end }}
