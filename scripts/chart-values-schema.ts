// The chart's values.schema.json, described once here. Values that become an operator flag
// take their type, range, enum and pattern from the flag table (src/config.ts), so a range
// changed there changes what `helm install` accepts; the rest are the chart's own (ports,
// Kubernetes objects passed through). Written by scripts/generate-chart-schema.ts.
import { z } from 'zod';
import { configSchema, QUANTITY } from '../src/config.js';

export type JsonSchema = Record<string, unknown>;
type FlagKey = keyof typeof configSchema.shape;

/** The flags as JSON Schema of their parsed values (transforms left untyped). */
const flagSchemas = (
  z.toJSONSchema(configSchema, { io: 'output', unrepresentable: 'any' }) as {
    properties: Record<FlagKey, JsonSchema>;
  }
).properties;

const flagName = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/**
 * A chart value passed as one flag. `as` says how the chart writes it: the flag's own
 * parsed type (a number, an enum), a boolean (the flag takes "true"/"false"), or a list
 * (joined with commas).
 */
function flag(key: FlagKey, as: 'value' | 'boolean' | 'list' = 'value', extra: JsonSchema = {}): JsonSchema {
  const { default: _default, description, ...typed } = flagSchemas[key];
  const flagDescription = `${flagName(key)}: ${String(description)}`;
  if (as === 'boolean') {
    // The flag's text form: the chart renders the YAML boolean as true/false.
    for (const text of ['true', 'false'])
      if (!configSchema.shape[key].safeParse(text).success) throw new Error(`${key} does not take ${text}`);
    return { type: 'boolean', description: flagDescription, ...extra };
  }
  if (as === 'list') {
    const items = typed.type === 'array' ? (typed.items as JsonSchema) : { type: 'string' };
    return { type: 'array', items: { ...items, ...extra }, uniqueItems: true, description: flagDescription };
  }
  if (Object.keys(typed).length === 0) throw new Error(`${key} has no JSON Schema type`);
  return { ...typed, description: flagDescription, ...extra };
}

/** Flags the chart sets from values: they are refused in extraArgs (set the value instead). */
export const chartFlags: FlagKey[] = [
  'leaderElect',
  'leaderElectionId',
  'watchNamespaces',
  'allowedRegistries',
  'maxConcurrentExports',
  'maxConcurrentVerifications',
  'workers',
  'keepSnapshots',
  'logLevel',
  'healthProbeBindAddress',
  'metricsBindAddress',
  'transferImage',
  'transferCpuRequest',
  'transferMemoryRequest',
  'transferCpuLimit',
  'transferMemoryLimit',
  'transferNodeSelector',
  'transferTolerations',
  'transferPriorityClassName',
];

const object = (properties: Record<string, JsonSchema>, description?: string): JsonSchema => ({
  type: 'object',
  ...(description ? { description } : {}),
  properties,
  additionalProperties: false,
});
const str = (description: string, extra: JsonSchema = {}): JsonSchema => ({
  type: 'string',
  description,
  ...extra,
});
const bool = (description: string): JsonSchema => ({ type: 'boolean', description });
const int = (description: string, minimum: number, maximum?: number): JsonSchema => ({
  type: 'integer',
  description,
  minimum,
  ...(maximum === undefined ? {} : { maximum }),
});
const port = (description: string) => int(description, 1, 65535);
const stringMap = (description: string): JsonSchema => ({
  type: 'object',
  description,
  additionalProperties: { type: 'string' },
});
/** A Kubernetes object passed through as written: its own API server checks its fields. */
const kubeObject = (description: string): JsonSchema => ({ type: 'object', description });
const kubeList = (description: string): JsonSchema => ({
  type: 'array',
  description,
  items: { type: 'object' },
});
/** A Prometheus duration such as 30s, 5m, 1h30m; empty for "not set" where allowed. */
const promDuration = (description: string, optional = false): JsonSchema =>
  str(description, { pattern: `^${optional ? '(' : ''}([0-9]+(ms|s|m|h|d|w|y))+${optional ? ')?' : ''}$` });
const DNS_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS_SUBDOMAIN = `${DNS_LABEL}(\\.${DNS_LABEL})*`;
const quantity = {
  anyOf: [{ type: 'string', pattern: '^[0-9.]+([eE][0-9]+|[numkMGTPE]i?)?$' }, { type: 'number' }],
};
/** A quantity as the flag takes it: empty for "not set". */
const quantityOrEmpty = `^(${QUANTITY.source.slice(1, -1)})?$`;
const resourceList = (description: string): JsonSchema => ({
  type: 'object',
  description,
  additionalProperties: quantity,
});

export function valuesSchema(): JsonSchema {
  const managed = new Set<string>(chartFlags);
  const extraFlags = (Object.keys(configSchema.shape) as FlagKey[])
    .filter((k) => !managed.has(k))
    .map((k) => flagName(k).slice(2));
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'serverimage-operator chart values',
    ...object({
      global: { type: 'object', description: 'Values a parent chart shares with its subcharts' },
      image: object({
        repository: str('The operator image', { minLength: 1 }),
        tag: str("The image tag; the chart's appVersion when empty"),
        digest: str('An image digest (sha256:...); when set, it is pulled by digest', {
          pattern: '^(sha256:[a-f0-9]{64})?$',
        }),
        pullPolicy: {
          type: 'string',
          enum: ['Always', 'IfNotPresent', 'Never'],
          description: 'imagePullPolicy',
        },
      }),
      imagePullSecrets: {
        type: 'array',
        description: 'Secrets to pull the image with',
        items: object({ name: str('A Secret in the release namespace', { minLength: 1 }) }),
      },
      nameOverride: str('Replaces the chart name in resource names', { maxLength: 63 }),
      fullnameOverride: str('Replaces the release-chart name of resources', { maxLength: 63 }),
      replicaCount: int('Replicas; with leader election one works, the others stand by', 0),
      revisionHistoryLimit: int(
        "Old ReplicaSets kept for rollback (the Deployment's revisionHistoryLimit)",
        0,
      ),
      leaderElection: object({
        enabled: flag('leaderElect', 'boolean'),
        id: flag('leaderElectionId', 'value', {
          pattern: `^(${DNS_SUBDOMAIN})?$`,
          maxLength: 253,
          description: `${flagName('leaderElectionId')}: the Lease's name; the release's full name when empty`,
        }),
      }),
      watchNamespaces: flag('watchNamespaces', 'list', { pattern: `^${DNS_LABEL}$`, maxLength: 63 }),
      allowedRegistries: flag('allowedRegistries', 'list'),
      maxConcurrentExports: flag('maxConcurrentExports'),
      maxConcurrentVerifications: flag('maxConcurrentVerifications'),
      workers: flag('workers'),
      keepSnapshots: flag('keepSnapshots', 'boolean'),
      logLevel: flag('logLevel'),
      transfer: object(
        {
          resources: object({
            requests: object({
              cpu: flag('transferCpuRequest', 'value', { pattern: quantityOrEmpty }),
              memory: flag('transferMemoryRequest', 'value', { pattern: quantityOrEmpty }),
            }),
            limits: object({
              cpu: flag('transferCpuLimit', 'value', { pattern: quantityOrEmpty }),
              memory: flag('transferMemoryLimit', 'value', { pattern: quantityOrEmpty }),
            }),
          }),
          nodeSelector: stringMap(`${flagName('transferNodeSelector')}: the transfer Pods' nodeSelector`),
          tolerations: kubeList(`${flagName('transferTolerations')}: the transfer Pods' tolerations`),
          priorityClassName: flag('transferPriorityClassName', 'value', {
            pattern: `^(${DNS_SUBDOMAIN})?$`,
            maxLength: 253,
          }),
          networkPolicy: object(
            {
              enabled: bool('Render the example NetworkPolicy for transfer Pods'),
              namespaces: {
                type: 'array',
                description:
                  'Namespaces with ServerImages (one NetworkPolicy each); watchNamespaces when empty',
                items: { type: 'string', pattern: `^${DNS_LABEL}$`, maxLength: 63 },
                uniqueItems: true,
              },
              registry: object({
                cidrs: {
                  type: 'array',
                  description: "The registry's addresses as CIDRs (10.20.30.40/32)",
                  items: {
                    type: 'string',
                    pattern: '^([0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2}|[0-9a-fA-F:]+/[0-9]{1,3})$',
                  },
                },
                ports: {
                  type: 'array',
                  description: "The registry's TCP ports",
                  items: port('A registry port'),
                  minItems: 1,
                },
              }),
              dns: object({
                namespace: str('The namespace of cluster DNS', { pattern: `^${DNS_LABEL}$` }),
                podLabels: stringMap("The cluster DNS Pods' labels"),
              }),
            },
            'An example NetworkPolicy: transfer Pods reach the exporter Pods, DNS and the registry only',
          ),
        },
        "The transfer Pods that push the disks, from the operator's image (--transfer-image)",
      ),
      extraArgs: {
        type: 'array',
        description: `More operator flags as --flag=value, one per item: ${extraFlags.join(', ')} (the others are values of this chart)`,
        items: { type: 'string', pattern: `^--(${extraFlags.join('|')})=.+$` },
      },
      extraEnv: {
        type: 'array',
        description: 'More environment variables of the operator container (Kubernetes EnvVar)',
        items: {
          type: 'object',
          required: ['name'],
          properties: { name: str('The variable', { minLength: 1 }) },
        },
      },
      serviceAccount: object({
        create: bool('Create the ServiceAccount'),
        name: str("The ServiceAccount's name; the release's full name when empty"),
        annotations: stringMap('Annotations of the ServiceAccount'),
      }),
      rbac: object({
        create: bool('Create the (Cluster)Roles and bindings the operator needs'),
        aggregateToDefaultRoles: bool('Add ServerImage rights to the built-in admin, edit and view roles'),
      }),
      resources: {
        type: 'object',
        description: 'Container resources: limits.memory = 320Mi + 64Mi x maxConcurrentExports',
        properties: {
          requests: resourceList('Resource requests'),
          limits: resourceList('Resource limits'),
        },
      },
      podSecurityContext: kubeObject("The Pod's securityContext"),
      securityContext: kubeObject("The operator container's securityContext"),
      probes: object({ port: port('Port of /healthz and /readyz (--health-probe-bind-address)') }),
      metrics: object({
        enabled: bool('Serve /metrics and create its Service'),
        port: port('Port of /metrics (--metrics-bind-address)'),
        service: object({
          type: {
            type: 'string',
            enum: ['ClusterIP', 'NodePort', 'LoadBalancer'],
            description: 'Service type',
          },
          annotations: stringMap('Annotations of the metrics Service'),
        }),
        serviceMonitor: object({
          enabled: bool('Create a prometheus-operator ServiceMonitor'),
          interval: promDuration('Scrape interval'),
          scrapeTimeout: promDuration("Scrape timeout; Prometheus' default when empty", true),
          labels: stringMap('Labels of the ServiceMonitor (for the Prometheus that selects it)'),
        }),
        prometheusRule: object({
          enabled: bool('Create the example prometheus-operator PrometheusRule'),
          noBackupForSeconds: int('ServerImageBackupMissing: no Active backup of a VM for this long', 60),
          scheduleOverdueSeconds: int(
            'ServerImageScheduleOverdue: a due run not started this long after',
            60,
          ),
          noVerifiedBackupForSeconds: int(
            'ServerImageVerifiedBackupMissing: no image of a VM verified by booting (spec.verify.boot) for this long',
            60,
          ),
          errorImages: int('ServerImageErrorsPilingUp: this many ServerImages in Error (per reason)', 1),
          operatorNotReadyFor: promDuration('ServerImageOperatorNotReady: no ready replica for this long'),
          severity: str('The severity label of the alerts', { minLength: 1 }),
          labels: stringMap('Labels of the PrometheusRule (for the Prometheus that selects it)'),
        }),
      }),
      dashboards: object({
        enabled: bool("Ship the Grafana dashboard in a ConfigMap for Grafana's dashboard sidecar"),
        namespace: str("The ConfigMap's namespace; the release namespace when empty", {
          pattern: `^(${DNS_LABEL})?$`,
        }),
        labels: stringMap('Labels of the ConfigMap: the sidecar\'s label (grafana_dashboard: "1")'),
        annotations: stringMap("Annotations of the ConfigMap, e.g. the sidecar's folder (grafana_folder)"),
      }),
      podDisruptionBudget: object({
        enabled: bool('Create a PodDisruptionBudget when replicaCount > 1'),
        minAvailable: {
          description: 'Pods kept through voluntary disruptions (drains); ignored when maxUnavailable is set',
          anyOf: [
            { type: 'integer', minimum: 0 },
            { type: 'string', pattern: '^[0-9]+%$' },
          ],
        },
        maxUnavailable: {
          description: 'Pods a drain may take at once, instead of minAvailable; unset when empty',
          anyOf: [
            { type: 'integer', minimum: 0 },
            { type: 'string', pattern: '^([0-9]+%)?$' },
          ],
        },
        unhealthyPodEvictionPolicy: {
          type: 'string',
          enum: ['IfHealthyBudget', 'AlwaysAllow'],
          description: 'Whether a Pod that is not ready may be evicted regardless of the budget',
        },
      }),
      podAntiAffinity: {
        type: 'string',
        enum: ['soft', 'hard', 'none'],
        description:
          'Replicas on different nodes: preferred (soft), required (hard) or not asked; unused when affinity is set',
      },
      podAnnotations: stringMap("Annotations of the operator's Pods"),
      podLabels: stringMap("Labels of the operator's Pods"),
      priorityClassName: str("The Pods' PriorityClass"),
      terminationGracePeriodSeconds: int(
        'Time a stopping operator gets to cancel its transfers and release the Lease',
        0,
      ),
      nodeSelector: stringMap("The Pods' nodeSelector"),
      tolerations: kubeList("The Pods' tolerations"),
      affinity: kubeObject("The Pods' affinity; replaces podAntiAffinity"),
      topologySpreadConstraints: kubeList("The Pods' topologySpreadConstraints"),
      tests: object({
        enabled: bool('Render the helm test Pod that checks an operator replica answers /readyz'),
      }),
    }),
  };
}
