// Operator settings from flags and environment, validated with zod so a typo stops
// the process with a message naming the setting. Flags win over environment.
import { parseArgs } from 'node:util';
import { z } from 'zod';

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** Go-style durations as the flags take them: 500ms, 30s, 5m, 2h. */
export const duration = z.string().transform((text, ctx) => {
  const match = DURATION.exec(text.trim());
  if (!match) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration like 30s, 5m or 2h` });
    return z.NEVER;
  }
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
});

const count = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z.enum(['true', 'false']).transform((v) => v === 'true');

/**
 * A Kubernetes resource quantity (500m, 2, 256Mi, 1.5Gi), or empty for "not set": refused at
 * start-up rather than by the API server at the first transfer Pod.
 */
export const QUANTITY = /^([+]?[0-9]+(\.[0-9]*)?|[+]?\.[0-9]+)([eE][+-]?[0-9]+|[numkMGTPE]i?|[KMGTPE]i)?$/;
const quantity = z
  .string()
  .trim()
  .refine((v) => v === '' || QUANTITY.test(v), 'not a Kubernetes quantity such as 500m, 2, 256Mi or 1Gi');

const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** `key=value,key=value` -> a label map (a nodeSelector). */
const labelMap = z.string().transform((text, ctx) => {
  const map: Record<string, string> = {};
  for (const pair of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq).trim();
    const value = eq < 0 ? '' : pair.slice(eq + 1).trim();
    if (eq < 0 || !LABEL_KEY.test(key) || !LABEL_VALUE.test(value)) {
      ctx.addIssue({ code: 'custom', message: `"${pair}" is not a label key=value` });
      return z.NEVER;
    }
    map[key] = value;
  }
  return map;
});

export const tolerationSchema = z.strictObject({
  key: z.string().optional(),
  operator: z.enum(['Exists', 'Equal']).optional(),
  value: z.string().optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
  tolerationSeconds: z.number().int().optional(),
});
export type Toleration = z.infer<typeof tolerationSchema>;

/** A JSON list of tolerations (as a Pod spec writes them), or empty for none. */
const tolerations = z.string().transform((text, ctx) => {
  if (text.trim() === '') return [];
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    ctx.addIssue({
      code: 'custom',
      message: 'is not JSON; write a list such as [{"key":"k","operator":"Exists"}]',
    });
    return z.NEVER;
  }
  const parsed = z.array(tolerationSchema).safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    ctx.addIssue({ code: 'custom', message: `${first.path.join('.') || 'the list'}: ${first.message}` });
    return z.NEVER;
  }
  return parsed.data;
});

export const configSchema = z.object({
  kubeconfig: z.string().optional().describe('kubeconfig file; in-cluster config when empty'),
  watchNamespaces: z
    .string()
    .prefault('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .describe('comma-separated namespaces to watch; all when empty'),
  allowedRegistries: z
    .string()
    .prefault('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim().toLowerCase())
        .filter(Boolean),
    )
    .pipe(
      z.array(
        z
          .string()
          .regex(
            /^(\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$/,
            'a registry host pattern looks like harbor.example.com, harbor.example.com:5000 or *.example.com',
          ),
      ),
    )
    .describe(
      'comma-separated registry hosts ServerImages may push to (host, host:port, *.example.com); any when empty',
    ),
  workers: count(1, 64).default(4).describe('reconciles running at once'),
  maxConcurrentExports: count(1, 64).default(2).describe('disk transfers running at once, operator-wide'),
  maxConcurrentVerifications: count(1, 64)
    .default(2)
    .describe('images booting as verification VMIs (spec.verify.boot) at once, operator-wide'),
  serverWaitTimeout: duration.prefault('5m').describe('how long a missing VirtualMachine is waited for'),
  serverStateTimeout: duration.prefault('10m').describe('how long a VM in a transient state is waited for'),
  snapshotTimeout: duration.prefault('15m').describe('how long a VirtualMachineSnapshot may take'),
  exportTimeout: duration.prefault('10m').describe('how long a VirtualMachineExport may take to be Ready'),
  registryRetryTimeout: duration
    .prefault('30m')
    .describe('how long an unavailable registry or export server is retried'),
  progressInterval: duration.prefault('5s').describe('least time between two progress writes to status'),
  keepSnapshots: bool
    .prefault('false')
    .describe('keep VirtualMachineSnapshots after Active (exports are always removed)'),
  transferImage: z
    .string()
    .default('')
    .describe("image of the transfer Pods: the operator's own (the chart sets it)"),
  transferCpuRequest: quantity.prefault('500m').describe('CPU request of a transfer Pod'),
  transferMemoryRequest: quantity.prefault('256Mi').describe('memory request of a transfer Pod'),
  transferCpuLimit: quantity.prefault('').describe('CPU limit of a transfer Pod; none when empty'),
  transferMemoryLimit: quantity.prefault('512Mi').describe('memory limit of a transfer Pod; none when empty'),
  transferNodeSelector: labelMap
    .prefault('')
    .describe('nodeSelector of transfer Pods, as key=value,key=value'),
  transferTolerations: tolerations
    .prefault('')
    .describe('tolerations of transfer Pods, as a JSON list of Kubernetes tolerations'),
  transferPriorityClassName: z
    .string()
    .default('')
    .describe('priorityClassName of transfer Pods; none when empty'),
  transferUnschedulableTimeout: duration
    .prefault('5m')
    .describe('how long a transfer Pod may stay unschedulable before the image fails'),
  logLevel: z
    .enum(['trace', 'debug', 'info', 'warn', 'error'])
    .default('info')
    .describe('trace, debug, info, warn or error'),
  metricsBindAddress: z.string().default(':8080').describe('host:port of /metrics; "0" disables'),
  healthProbeBindAddress: z
    .string()
    .default(':8081')
    .describe('host:port of /healthz and /readyz; "0" disables'),
  leaderElect: bool.prefault('false').describe('run leader election so only one replica works'),
  leaderElectionNamespace: z
    .string()
    .optional()
    .describe('namespace of the Lease; the pod namespace by default'),
  leaderElectionId: z.string().default('serverimage-operator').describe('name of the Lease'),
});

export type Config = z.infer<typeof configSchema>;

type Key = keyof z.input<typeof configSchema>;
const flagName = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const envName = (key: string) => flagName(key).replace(/-/g, '_').toUpperCase();

/** Every flag the operator accepts, `--watch-namespaces` ..., read from the schema as parseArgs reads them. */
export function operatorFlags(): string[] {
  return Object.keys(configSchema.shape).map((key) => `--${flagName(key)}`);
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads `--flag value` / `--flag=value` and FLAG environment variables (KUBECONFIG, LOG_LEVEL ...). */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): Config {
  const keys = Object.keys(configSchema.shape) as Key[];
  const values = parseFlags(argv, keys);
  const raw = Object.fromEntries(
    keys
      .map((k) => [k, (values[flagName(k)] as string | undefined) ?? env[envName(k)]])
      .filter(([, v]) => v !== undefined),
  );
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => `--${flagName(String(i.path[0]))}: ${i.message}`).join('\n'),
    );
  }
  const crossed = requestsOverLimits(parsed.data);
  if (crossed.length > 0) throw new ConfigError(crossed.join('\n'));
  return parsed.data;
}

const SUFFIX: Record<string, number> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A quantity's value (bytes, cores), or undefined when empty. */
export function quantityValue(text: string): number | undefined {
  const match = /^([+]?[0-9.]+)(?:[eE]([+-]?[0-9]+))?([a-zA-Z]*)$/.exec(text.trim());
  if (!match || SUFFIX[match[3]!] === undefined) return undefined;
  return Number(match[1]) * 10 ** Number(match[2] ?? 0) * SUFFIX[match[3]!]!;
}

/** A request above its limit: the API server would refuse every transfer Pod. */
function requestsOverLimits(config: Config): string[] {
  const pairs = [
    ['transferCpuRequest', 'transferCpuLimit'],
    ['transferMemoryRequest', 'transferMemoryLimit'],
  ] as const;
  return pairs.flatMap(([request, limit]) => {
    const r = quantityValue(config[request]);
    const l = quantityValue(config[limit]);
    return r !== undefined && l !== undefined && r > l
      ? [
          `--${flagName(request)}: ${config[request]} is more than --${flagName(limit)} ${config[limit]}; the API server refuses a Pod whose request exceeds its limit`,
        ]
      : [];
  });
}

/** Node's parseArgs, its errors (unknown flag, missing value, stray argument) as ConfigErrors. */
function parseFlags(argv: string[], keys: Key[]): Record<string, string | boolean | undefined> {
  try {
    return parseArgs({
      args: argv,
      options: Object.fromEntries(keys.map((k) => [flagName(k), { type: 'string' as const }])),
      strict: true,
    }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    const e = err as { code?: string; message?: string };
    const flag = /'(-[^']*)'/.exec(e.message ?? '')?.[1];
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION')
      throw new ConfigError(`${flag ?? 'a flag'}: unknown flag`);
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE')
      throw new ConfigError(`${flag ?? 'a flag'}: needs a value`);
    if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      const arg = /'([^']*)'/.exec(e.message ?? '')?.[1];
      throw new ConfigError(
        `${arg ?? 'an argument'}: unexpected argument; flags look like --name value or --name=value`,
      );
    }
    throw err;
  }
}

export function usage(): string {
  return Object.entries(configSchema.shape)
    .map(([k, s]) => `  --${flagName(k).padEnd(28)} ${envName(k).padEnd(28)} ${s.description ?? ''}`)
    .join('\n');
}
