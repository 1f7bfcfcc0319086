{{/* The name of the agent's objects. */}}
{{- define "helaseid.fullname" -}}
{{- default .Release.Name .Values.name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The labels that select the agent's pods (never change: the Deployment's selector is immutable). */}}
{{- define "helaseid.selectorLabels" -}}
app.kubernetes.io/name: helaseid
app.kubernetes.io/instance: {{ include "helaseid.fullname" . }}
{{- end -}}

{{/* The labels of every object: the manifests' two, and Helm's own. */}}
{{- define "helaseid.labels" -}}
{{ include "helaseid.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "helaseid.serviceAccountName" -}}
{{- default (include "helaseid.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "helaseid.configFile" -}}
{{- if .Values.config.structured }}config.yaml{{ else }}config.env{{ end -}}
{{- end -}}

{{- define "helaseid.configMapName" -}}
{{- default (include "helaseid.fullname" .) .Values.config.existingConfigMap -}}
{{- end -}}
