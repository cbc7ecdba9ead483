{{/* Names and labels shared by every template of the chart. */}}

{{- define "shipmate.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: the release name, unless it already contains the chart's. */}}
{{- define "shipmate.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "shipmate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "shipmate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "shipmate.labels" -}}
{{ include "shipmate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "shipmate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- .Values.serviceAccount.name | default (include "shipmate.fullname" .) }}
{{- else }}
{{- .Values.serviceAccount.name | default "default" }}
{{- end }}
{{- end }}

{{/* Refuses values that would run a broken server and that values.schema.json cannot express. */}}
{{- define "shipmate.validate" -}}
{{- if le (int .Values.terminationGracePeriodSeconds) (int .Values.gracefulTimeoutSeconds) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be longer than gracefulTimeoutSeconds (%v): the kubelet kills the pod at the grace period, before running jobs are given their time" .Values.terminationGracePeriodSeconds .Values.gracefulTimeoutSeconds) }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (not (or .Values.queue.redisUrl .Values.queue.redisUrlKey)) }}
{{- fail "replicaCount above 1 needs queue.redisUrl or queue.redisUrlKey: the SQLite queue belongs to one replica" }}
{{- end }}
{{- if and (eq .Values.github.auth "app") (not .Values.github.app.id) }}
{{- fail "github.auth app needs github.app.id" }}
{{- end }}
{{- range $name, $value := .Values.settings }}
{{- if has $name (list "SHIPMATE_WEBHOOK_SECRET" "SHIPMATE_WEBHOOK_SECRET_PREVIOUS" "GITHUB_TOKEN" "SHIPMATE_GITHUB_APP_PRIVATE_KEY" "SHIPMATE_SECRET_SALT") }}
{{- fail (printf "settings.%s is a secret: put it in the Secret %q and name its key under secret.keys or github" $name $.Values.secret.name) }}
{{- end }}
{{- if has $name (list "SHIPMATE_DATA_DIR" "SHIPMATE_LISTEN" "SHIPMATE_GRACEFUL_TIMEOUT_SECONDS" "SHIPMATE_REPOSITORIES" "SHIPMATE_QUEUE" "SHIPMATE_TERRAFORM_SANDBOX" "GITHUB_API_URL" "SHIPMATE_GITHUB_APP_ID" "SHIPMATE_GITHUB_APP_PRIVATE_KEY_PATH") }}
{{- fail (printf "settings.%s is set by the chart from its own value: see the chart's README" $name) }}
{{- end }}
{{- end }}
{{- end }}
