{{/* The headless Service that gives the pods stable DNS names. */}}
{{- define "isengard.headless" -}}
{{ .Release.Name }}-headless
{{- end }}

{{/* The DNS suffix of the pods: .<headless>.<namespace>.svc.<domain> */}}
{{- define "isengard.podDomain" -}}
{{ include "isengard.headless" . }}.{{ .Release.Namespace }}.svc.{{ .Values.clusterDomain }}
{{- end }}

{{- define "isengard.selector" -}}
app.kubernetes.io/name: isengard
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The configuration file: .Values.config plus Isengard.Blobs and, with more
than one replica, Isengard.Cluster (Members = every pod; NodeId and
GrpcAdvertise come from the environment, set per pod by its command).
*/}}
{{- define "isengard.config" -}}
{{- $config := deepCopy .Values.config -}}
{{- $isengard := get $config "Isengard" | default dict -}}
{{- $replicas := int .Values.replicas -}}
{{- if lt $replicas 1 }}{{ fail "replicas must be at least 1" }}{{ end -}}
{{- $blobs := dict -}}
{{- if eq .Values.blobs.mode "shared" -}}
{{- $_ := set $blobs "Url" (required "blobs.s3.url (s3://bucket/prefix) is required when blobs.mode is shared" .Values.blobs.s3.url) -}}
{{- else if eq .Values.blobs.mode "replicated" -}}
{{- if gt $replicas 1 -}}
{{- $_ := set $blobs "Mode" "replicated" -}}
{{- with .Values.blobs.replicas -}}
{{- if gt (int .) $replicas }}{{ fail "blobs.replicas cannot exceed replicas" }}{{ end -}}
{{- $_ := set $blobs "Replicas" (int .) -}}
{{- end -}}
{{- with .Values.blobs.repairInterval }}{{ $_ := set $blobs "RepairInterval" (int .) }}{{ end -}}
{{- end -}}
{{- else -}}
{{- fail "blobs.mode must be replicated or shared" -}}
{{- end -}}
{{- if $blobs }}{{ $_ := set $isengard "Blobs" $blobs }}{{ end -}}
{{- if gt $replicas 1 -}}
{{- $members := dict -}}
{{- $domain := include "isengard.podDomain" . -}}
{{- range $i := until $replicas -}}
{{- $_ := set $members (toString (add1 $i)) (printf "%s-%d.%s:%d" $.Release.Name $i $domain (int $.Values.grpcPort)) -}}
{{- end -}}
{{- $_ := set $isengard "Cluster" (dict "GrpcListen" (printf "0.0.0.0:%d" (int .Values.grpcPort)) "Members" $members) -}}
{{- end -}}
{{- $_ := set $config "Isengard" $isengard -}}
{{- toPrettyJson $config -}}
{{- end }}
