{{/* The name of every object. */}}
{{- define "smart-chaos.fullname" -}}
{{- default "smart-chaos" .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "smart-chaos.labels" -}}
app.kubernetes.io/name: smart-chaos
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: smart-chaos
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Labels that select the operator's pods. */}}
{{- define "smart-chaos.selectorLabels" -}}
app.kubernetes.io/name: smart-chaos
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The username of the operator's ServiceAccount, which may never approve. */}}
{{- define "smart-chaos.operatorUsername" -}}
system:serviceaccount:{{ .Release.Namespace }}:{{ include "smart-chaos.fullname" . }}
{{- end -}}
