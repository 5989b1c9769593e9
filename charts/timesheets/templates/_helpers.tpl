{{/*
Chart name, truncated to the 63 characters a label value allows.
*/}}
{{- define "timesheets.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the prefix of every object name. Truncated to 52 characters so that
suffixed names ("-metrics", "-data") stay within the 63 a Service name allows.
*/}}
{{- define "timesheets.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart label value: name-version.
*/}}
{{- define "timesheets.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every object.
*/}}
{{- define "timesheets.labels" -}}
helm.sh/chart: {{ include "timesheets.chart" . }}
{{ include "timesheets.selectorLabels" . }}
{{- with .Chart.AppVersion }}
app.kubernetes.io/version: {{ . | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: timesheets
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Labels that select the release's objects; add app.kubernetes.io/component per workload.
*/}}
{{- define "timesheets.selectorLabels" -}}
app.kubernetes.io/name: {{ include "timesheets.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Selector labels of the API pods.
*/}}
{{- define "timesheets.api.selectorLabels" -}}
{{ include "timesheets.selectorLabels" . }}
app.kubernetes.io/component: api
{{- end }}

{{/*
Selector labels of the importer pods.
*/}}
{{- define "timesheets.importer.selectorLabels" -}}
{{ include "timesheets.selectorLabels" . }}
app.kubernetes.io/component: importer
{{- end }}

{{/*
ServiceAccount of the API.
*/}}
{{- define "timesheets.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "timesheets.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Name of the importer's objects; a CronJob name may have at most 52 characters.
*/}}
{{- define "timesheets.importer.fullname" -}}
{{- printf "%s-importer" (include "timesheets.fullname" . | trunc 43 | trimSuffix "-") }}
{{- end }}

{{/*
ServiceAccount of the importer.
*/}}
{{- define "timesheets.importer.serviceAccountName" -}}
{{- if .Values.importer.serviceAccount.create }}
{{- default (include "timesheets.importer.fullname" .) .Values.importer.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.importer.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference from an image dict, with fallbacks: repository@digest, else repository:tag.
Call with (dict "image" .Values.image "fallback" .Values.image "context" $).
*/}}
{{- define "timesheets.image" -}}
{{- $repo := default .fallback.repository .image.repository }}
{{- $digest := default .fallback.digest .image.digest }}
{{- $tag := default .fallback.tag .image.tag | default .context.Chart.AppVersion }}
{{- if $digest }}
{{- printf "%s@%s" $repo $digest }}
{{- else }}
{{- printf "%s:%s" $repo (toString $tag) }}
{{- end }}
{{- end }}

{{/*
Name of the ScopePolicy the API enforces.
*/}}
{{- define "timesheets.scopePolicyName" -}}
{{- default (include "timesheets.fullname" .) .Values.scopePolicy.name }}
{{- end }}

{{/*
"true" when the API stores its data in SQLite (no PostgreSQL Secret given).
*/}}
{{- define "timesheets.sqlite" -}}
{{- if not .Values.database.existingSecret }}true{{ end }}
{{- end }}

{{/*
Name of the SQLite PersistentVolumeClaim.
*/}}
{{- define "timesheets.claimName" -}}
{{- default (printf "%s-data" (include "timesheets.fullname" .)) .Values.persistence.existingClaim }}
{{- end }}

{{/*
In-cluster URL of the API Service.
*/}}
{{- define "timesheets.apiURL" -}}
{{- printf "%s://%s.%s.svc:%d" (include "timesheets.apiScheme" .) (include "timesheets.fullname" .) .Release.Namespace (int .Values.service.port) }}
{{- end }}

{{/*
What the API speaks: https when tls.existingSecret names its certificate.
*/}}
{{- define "timesheets.apiScheme" -}}
{{- ternary "https" "http" (ne .Values.tls.existingSecret "") }}
{{- end }}

{{/*
Checks across values that the schema cannot explain well. Each failure says why.
Included by the Deployment, so every render runs it.
*/}}
{{- define "timesheets.validate" -}}
{{- if include "timesheets.sqlite" . }}
{{- if gt (int .Values.replicaCount) 1 }}
{{- fail (printf "replicaCount is %d, but the API uses SQLite (database.existingSecret is empty): SQLite is one file on a ReadWriteOnce volume that only one pod may write. Run one replica, or set database.existingSecret to a Secret holding a postgres:// URL to run several." (int .Values.replicaCount)) }}
{{- end }}
{{- if .Values.autoscaling.enabled }}
{{- fail "autoscaling.enabled is true, but the API uses SQLite (database.existingSecret is empty): SQLite is one file on a ReadWriteOnce volume that only one pod may write, so the API cannot scale out. Set database.existingSecret to a Secret holding a postgres:// URL, or turn autoscaling off." }}
{{- end }}
{{- if not (hasPrefix "sqlite:///data/" .Values.database.url) }}
{{- fail (printf "database.url %q: the container's root filesystem is read-only and the data volume is mounted at /data, so the SQLite URL must start with sqlite:///data/ (a PostgreSQL URL belongs in a Secret named by database.existingSecret)." .Values.database.url) }}
{{- end }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail (printf "autoscaling.minReplicas (%d) is greater than autoscaling.maxReplicas (%d)." (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- end }}
{{- if and .Values.autoscaling.enabled (not .Values.autoscaling.targetCPUUtilizationPercentage) (not .Values.autoscaling.targetMemoryUtilizationPercentage) }}
{{- fail "autoscaling.enabled is true but neither targetCPUUtilizationPercentage nor targetMemoryUtilizationPercentage is set: the autoscaler needs a metric." }}
{{- end }}
{{- if and .Values.scopePolicy.create (or (empty .Values.scopePolicy.issuers) (empty .Values.scopePolicy.audiences)) }}
{{- fail "scopePolicy.create is true: set scopePolicy.issuers (e.g. [{url: https://TENANT.auth0.com/}]) and scopePolicy.audiences (e.g. [https://timesheets.example/]); a ScopePolicy needs at least one of each." }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.service.enabled: the ServiceMonitor selects the metrics Service." }}
{{- end }}
{{- if .Values.importer.enabled }}
{{- if not .Values.importer.credentials.existingSecret }}
{{- if eq .Values.importer.credentials.method "private_key_jwt" }}
{{- fail "importer.enabled: set importer.credentials.existingSecret to the Secret holding the importer's client-id, private-key.pem and optionally key-id (kubectl create secret generic NAME --from-literal=client-id=... --from-file=private-key.pem=./key.pem --from-literal=key-id=...). The chart never templates credentials from values." }}
{{- end }}
{{- fail "importer.enabled: set importer.credentials.existingSecret to the Secret holding the importer's client-id and client-secret (kubectl create secret generic NAME --from-literal=client-id=... --from-literal=client-secret=...), or with importer.credentials.method=private_key_jwt its client-id, private-key.pem and optionally key-id. The chart never templates credentials from values." }}
{{- end }}
{{- if and .Values.importer.oauth.assertionAudience (ne .Values.importer.credentials.method "private_key_jwt") }}
{{- fail (printf "importer.oauth.assertionAudience is the aud of a private_key_jwt client assertion, but importer.credentials.method is %s: set importer.credentials.method=private_key_jwt, or drop assertionAudience." .Values.importer.credentials.method) }}
{{- end }}
{{- if not (or .Values.importer.oauth.tokenURL .Values.importer.oauth.issuer) }}
{{- fail "importer.enabled: set importer.oauth.tokenURL (e.g. https://TENANT.auth0.com/oauth/token) or importer.oauth.issuer (found by OIDC discovery)." }}
{{- end }}
{{- $sources := 0 }}
{{- if .Values.importer.source.url }}{{ $sources = add1 $sources }}{{ end }}
{{- if .Values.importer.source.configMap.name }}{{ $sources = add1 $sources }}{{ end }}
{{- if .Values.importer.source.existingClaim.name }}{{ $sources = add1 $sources }}{{ end }}
{{- if ne (int $sources) 1 }}
{{- fail (printf "importer.enabled: set exactly one of importer.source.url, importer.source.configMap.name and importer.source.existingClaim.name (%d set)." (int $sources)) }}
{{- end }}
{{- include "timesheets.importer.validateSource" . }}
{{- end }}
{{- end }}

{{/*
The importer's source kind as the importer will see it: importer.source.kind,
or for auto what the importer infers from the URL's host (any other https://
URL is http-json); "file" for an auto file source (format by extension).
*/}}
{{- define "timesheets.importer.sourceKind" -}}
{{- $src := .Values.importer.source }}
{{- if ne $src.kind "auto" }}
{{- $src.kind }}
{{- else if $src.url }}
{{- $hosts := dict "api.harvestapp.com" "harvest" "api.tempo.io" "tempo" "api.track.toggl.com" "toggl" "api.clockify.me" "clockify" }}
{{- get $hosts (urlParse $src.url).hostname | default "http-json" }}
{{- else }}
{{- "file" }}
{{- end }}
{{- end }}

{{/*
The keys a connector's credentials Secret must hold, as text for a message.
*/}}
{{- define "timesheets.importer.credentialsLayout" -}}
{{- $c := .Values.importer.source.credentials }}
{{- $kind := include "timesheets.importer.sourceKind" . }}
{{- if eq $kind "harvest" }}
{{- printf "%s (a Harvest personal access token) and %s (the Harvest account ID): kubectl create secret generic NAME --from-file=%s=./token --from-literal=%s=ACCOUNT_ID" $c.tokenKey $c.accountIDKey $c.tokenKey $c.accountIDKey }}
{{- else if eq $kind "tempo" }}
{{- printf "%s (a Tempo API token): kubectl create secret generic NAME --from-file=%s=./token" $c.tokenKey $c.tokenKey }}
{{- else if eq $kind "toggl" }}
{{- printf "%s (a Toggl Track API token) and %s (the workspace ID): kubectl create secret generic NAME --from-file=%s=./token --from-literal=%s=WORKSPACE_ID" $c.tokenKey $c.workspaceIDKey $c.tokenKey $c.workspaceIDKey }}
{{- else if eq $kind "clockify" }}
{{- printf "%s (a Clockify API key), %s (the workspace ID) and optionally user-id (with credentials.userIDKey): kubectl create secret generic NAME --from-file=%s=./token --from-literal=%s=WORKSPACE_ID" $c.tokenKey $c.workspaceIDKey $c.tokenKey $c.workspaceIDKey }}
{{- else }}
{{- printf "%s (the bearer token): kubectl create secret generic NAME --from-file=%s=./token" $c.tokenKey $c.tokenKey }}
{{- end }}
{{- end }}

{{/*
Checks of importer.source and importer.sync, with the importer enabled.
*/}}
{{- define "timesheets.importer.validateSource" -}}
{{- $imp := .Values.importer }}
{{- $src := $imp.source }}
{{- $kind := include "timesheets.importer.sourceKind" . }}
{{- $connector := has $kind (list "harvest" "tempo" "toggl" "clockify") }}
{{- $how := ternary (printf "importer.source.kind is %s" $kind) (printf "importer.source.url %s is the %s connector's (importer.source.kind auto)" $src.url $kind) (ne $src.kind "auto") }}
{{- if and (has $kind (list "csv" "json" "ndjson")) $src.url }}
{{- fail (printf "importer.source.kind is %s, a file: name it in importer.source.configMap or importer.source.existingClaim. An https:// importer.source.url is http-json or a tool's connector." $kind) }}
{{- end }}
{{- if and (has $kind (list "csv" "json" "ndjson")) (ne $imp.format "auto") (ne $imp.format $kind) }}
{{- fail (printf "importer.source.kind is %s but importer.format is %s: both name the file format. Keep one, or make them agree." $kind $imp.format) }}
{{- end }}
{{- if and (or $connector (eq $kind "http-json")) (not $src.url) }}
{{- fail (printf "importer.source.kind is %s, read over HTTPS: set importer.source.url to the API's base URL (harvest https://api.harvestapp.com/v2, tempo https://api.tempo.io/4, toggl https://api.track.toggl.com/api/v9, clockify https://api.clockify.me/api/v1)." $kind) }}
{{- end }}
{{- if and $src.tokenSecret.name $src.credentials.existingSecret }}
{{- fail (printf "importer.source.tokenSecret (%s) and importer.source.credentials.existingSecret (%s) are both set: they are two ways to give the source its token. Keep credentials.existingSecret, with the token under its key %s, and drop tokenSecret (the older way, for http-json only)." $src.tokenSecret.name $src.credentials.existingSecret $src.credentials.tokenKey) }}
{{- end }}
{{- if and $src.tokenSecret.name (not $src.url) }}
{{- fail "importer.source.tokenSecret is for an HTTPS source: set importer.source.url, or drop the token Secret." }}
{{- end }}
{{- if and $src.tokenSecret.name $connector }}
{{- fail (printf "%s: importer.source.tokenSecret is the older way for an http-json source only. The %s connector reads importer.source.credentials.existingSecret, a Secret with the keys %s." $how $kind (include "timesheets.importer.credentialsLayout" .)) }}
{{- end }}
{{- if and $connector (not $src.credentials.existingSecret) }}
{{- fail (printf "%s: set importer.source.credentials.existingSecret to a Secret you create with the keys %s. It is mounted read-only at /var/run/secrets/timesheets/source." $how (include "timesheets.importer.credentialsLayout" .)) }}
{{- end }}
{{- if and $src.credentials.existingSecret (not $src.url) }}
{{- fail "importer.source.credentials is for a source read over HTTPS (a tool's API or http-json): set importer.source.url, or drop importer.source.credentials.existingSecret." }}
{{- end }}
{{- if and (or $src.itemsPath $src.nextPath) (ne $kind "http-json") }}
{{- fail (printf "importer.source.itemsPath and nextPath are for an http-json source; the source is %s, which knows where its entries and next page are. Drop them, or set importer.source.kind=http-json." $kind) }}
{{- end }}
{{- if and $imp.sync.prune (not $imp.sync.window) }}
{{- fail "importer.sync.prune is true but importer.sync.window is empty: pruning deletes this client's entries that the source no longer has, so it needs a window to reconcile. Set importer.sync.window, e.g. 35d (the 35 days ending today)." }}
{{- end }}
{{- if and $imp.sync.prune $imp.sync.full }}
{{- fail "importer.sync.prune and importer.sync.full are both true: a pruning run reads its whole window anyway. Drop importer.sync.full." }}
{{- end }}
{{- end }}

{{/*
Extra CAs from trustedCA.configMap, for the API (an issuer's JWKS) and the
importer (the token endpoint, the API, an https source). Go reads every file
in SSL_CERT_DIR besides the image's CA bundle, so the system roots stay.
*/}}
{{- define "timesheets.trustedCA.env" -}}
{{- if .Values.trustedCA.configMap }}
- name: SSL_CERT_DIR
  value: /etc/ssl/certs:/etc/timesheets/trusted-ca
{{- end }}
{{- end }}

{{- define "timesheets.trustedCA.volumeMount" -}}
{{- if .Values.trustedCA.configMap }}
- name: trusted-ca
  mountPath: /etc/timesheets/trusted-ca
  readOnly: true
{{- end }}
{{- end }}

{{- define "timesheets.trustedCA.volume" -}}
{{- if .Values.trustedCA.configMap }}
- name: trusted-ca
  configMap:
    name: {{ .Values.trustedCA.configMap }}
    defaultMode: 0444
{{- end }}
{{- end }}
