{{- define "pgvip.labels" -}}
app.kubernetes.io/name: pgvip
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
{{- define "pgvip.controllerName" -}}{{ .Release.Name }}-controller{{- end -}}
{{- define "pgvip.agentName" -}}{{ .Release.Name }}-node-agent{{- end -}}
{{- define "pgvip.leaseName" -}}{{ .Values.controller.leaseName | default (include "pgvip.controllerName" .) }}{{- end -}}
{{- define "pgvip.tag" -}}{{ .Values.image.tag | default .Chart.AppVersion }}{{- end -}}
{{- define "pgvip.selector.controller" -}}
app.kubernetes.io/name: pgvip
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}
{{- define "pgvip.selector.agent" -}}
app.kubernetes.io/name: pgvip
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: node-agent
{{- end -}}
