{{- define "hourglass-executor.name" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hourglass-executor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "hourglass-executor.name" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "hourglass-executor.selectorLabels" -}}
app.kubernetes.io/name: hourglass-executor
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "hourglass-executor.labels" -}}
{{ include "hourglass-executor.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{/* The task API port: config.grpcPort when set, else port; the config, Service and container agree. */}}
{{- define "hourglass-executor.taskPort" -}}
{{- (.Values.config).grpcPort | default .Values.port -}}
{{- end -}}
