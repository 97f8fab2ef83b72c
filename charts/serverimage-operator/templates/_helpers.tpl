{{- define "serverimage-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "serverimage-operator.fullname" -}}
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

{{- define "serverimage-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "serverimage-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "serverimage-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "serverimage-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "serverimage-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "serverimage-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "serverimage-operator.leaseName" -}}
{{- default (include "serverimage-operator.fullname" .) .Values.leaderElection.id }}
{{- end }}

{{/*
What the operator calls in the namespaces it works in (src/controllers/serverimage,
src/kube). The same rules as deploy/cluster-role.yaml, which explains each one; used in
a ClusterRole (all namespaces) or in a Role per watched namespace.
*/}}
{{- define "serverimage-operator.rules" -}}
- apiGroups: [serverimage.io]
  resources: [serverimages]
  verbs: [get, list, watch, patch, create, delete]
- apiGroups: [serverimage.io]
  resources: [serverimageschedules]
  verbs: [get, list, watch]
- apiGroups: [serverimage.io]
  resources: [serverimageschedules/status]
  verbs: [patch]
- apiGroups: [serverimage.io]
  resources: [serverimages/status]
  verbs: [patch]
- apiGroups: [serverimage.io]
  resources: [serverimages/finalizers]
  verbs: [update]
- apiGroups: [kubevirt.io]
  resources: [virtualmachines]
  verbs: [get, list, watch]
# Boot verification (spec.verify.boot): a throw-away VMI of the image, made, watched, deleted.
- apiGroups: [kubevirt.io]
  resources: [virtualmachineinstances]
  verbs: [create, get, list, watch, delete]
- apiGroups: ['']
  resources: [persistentvolumeclaims]
  verbs: [get, list, watch]
- apiGroups: [cdi.kubevirt.io]
  resources: [datavolumes]
  verbs: [get, list, watch]
- apiGroups: [snapshot.kubevirt.io]
  resources: [virtualmachinesnapshots]
  verbs: [create, get, list, watch, delete]
# The snapshot content (KubeVirt's copy of the VM), read by name only.
- apiGroups: [snapshot.kubevirt.io]
  resources: [virtualmachinesnapshotcontents]
  verbs: [get]
- apiGroups: [export.kubevirt.io]
  resources: [virtualmachineexports]
  verbs: [create, get, list, watch, delete]
# Secrets by name only (no list/watch): the ones a ServerImage names, and its export token.
- apiGroups: ['']
  resources: [secrets]
  verbs: [get, create, delete]
- apiGroups: ['']
  resources: [events]
  verbs: [create, patch]
# Transfer Pods: one per attempt of a ServerImage's push, made, watched (our label) and deleted.
- apiGroups: ['']
  resources: [pods]
  verbs: [create, delete, get, list, watch]
- apiGroups: ['']
  resources: [pods/status]
  verbs: [get]
{{- end }}

{{/* The operator's image, by digest when one is given. */}}
{{- define "serverimage-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Replicas on different nodes unless `affinity` says otherwise (podAntiAffinity: soft|hard|none). */}}
{{- define "serverimage-operator.affinity" -}}
{{- if .Values.affinity }}
{{- toYaml .Values.affinity }}
{{- else if eq .Values.podAntiAffinity "soft" }}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "serverimage-operator.selectorLabels" . | nindent 12 }}
{{- else if eq .Values.podAntiAffinity "hard" }}
podAntiAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    - topologyKey: kubernetes.io/hostname
      labelSelector:
        matchLabels:
          {{- include "serverimage-operator.selectorLabels" . | nindent 10 }}
{{- end }}
{{- end }}
