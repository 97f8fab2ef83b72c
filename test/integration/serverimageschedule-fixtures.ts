// Shared by the ServerImageSchedule tests: a fleet of labelled VMs, a schedule over them,
// its backups as the API server has them, waiting for runs to settle, the registry's tags
// read by crane, and the operator as its own process.
import { readFileSync } from 'node:fs';
import type { Crane } from '../harness/crane.js';
import { VM, type Obj, type Resource } from '../harness/kubevirt/api.js';
import { type SimTestClient, until } from '../harness/kubevirt/testing.js';
import { startOperatorProcess } from '../harness/operator.js';
import { freePort } from '../harness/ports.js';
import type { ManagedProcess } from '../harness/process.js';
import type { TestRegistry } from '../harness/registry.js';
import { SERVERIMAGE, createVm } from './serverimage-fixtures.js';

export const SCHEDULE: Resource = {
  group: 'serverimage.io',
  version: 'v1alpha1',
  plural: 'serverimageschedules',
  kind: 'ServerImageSchedule',
};

/** VMs with 1 MiB disks and the label backup=<label>, started at once (each ~1-2 s on the real bed). */
export async function createFleet(client: SimTestClient, ns: string, names: string[], label: string) {
  await Promise.all(
    names.map(async (name) => {
      await createVm(client, ns, name, { disks: [{ volume: 'rootdisk', size: 1024 * 1024 }] });
      await client.patch(VM, ns, name, { metadata: { labels: { backup: label } } });
    }),
  );
}

export function scheduleBody(
  ns: string,
  name: string,
  registry: TestRegistry,
  spec: Record<string, unknown>,
) {
  return {
    metadata: { name, namespace: ns },
    spec: {
      backupType: 'nightly',
      rotation: 2,
      template: { registry: { repository: `${registry.host}/backups/{vm}`, insecure: !registry.tls } },
      ...spec,
    },
  };
}

export async function createSchedule(
  client: SimTestClient,
  ns: string,
  name: string,
  registry: TestRegistry,
  spec: Record<string, unknown>,
): Promise<Obj> {
  return client.create(SCHEDULE, ns, scheduleBody(ns, name, registry, spec));
}

/** The backups of a schedule, oldest due time first. */
export async function backupsOf(client: SimTestClient, ns: string, schedule: string): Promise<Obj[]> {
  const list = (await client.custom.listNamespacedCustomObject({
    ...SERVERIMAGE,
    namespace: ns,
    labelSelector: `serverimage.io/schedule=${schedule}`,
  })) as { items: Obj[] };
  return list.items.sort((a, b) => dueOf(a) - dueOf(b) || a.metadata.name.localeCompare(b.metadata.name));
}

export const dueOf = (si: Obj): number =>
  new Date(si.metadata.annotations?.['serverimage.io/scheduled-time'] ?? 0).getTime();
export const vmOf = (si: Obj): string => si.spec.serverRef.name;
export const phaseOf = (si: Obj): string | undefined => si.status?.phase;

/** Waits until no backup is Queued, Saving or being deleted; returns them. */
export async function settled(client: SimTestClient, ns: string, schedule: string, timeoutMs = 60_000) {
  return until(
    `backups of ${schedule} to settle`,
    async () => {
      const all = await backupsOf(client, ns, schedule);
      return all.every(
        (si) => ['Active', 'Error'].includes(phaseOf(si) ?? '') && !si.metadata.deletionTimestamp,
      )
        ? all
        : undefined;
    },
    timeoutMs,
  );
}

/** The tags of a repository, as crane lists them (none when the repository is gone). */
export async function tagsOf(crane: Crane, repository: string): Promise<string[]> {
  const result = await crane.run(['ls', repository]);
  if (result.code !== 0) {
    if (/NAME_UNKNOWN|not found/i.test(result.stderr)) return [];
    throw new Error(`crane ls ${repository}: ${result.stderr}`);
  }
  return result.stdout.toString('utf8').split('\n').filter(Boolean).sort();
}

/**
 * The repository's image tags, and how many referrers tags (`sha256-<hex>`, the index of
 * an image's VM artifact, issue 13) it has besides: one per image that is kept.
 */
export async function imageTagsOf(crane: Crane, repository: string) {
  const tags = await tagsOf(crane, repository);
  const referrers = tags.filter((t) => /^sha256-[0-9a-f]{64}$/.test(t));
  return { images: tags.filter((t) => !referrers.includes(t)), referrers: referrers.length };
}

/** Sleeps until `ms` (epoch) has passed. */
export const sleepUntil = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms - Date.now())));

/** The operator as its own process, watching `ns` only, with its probes on free ports. */
export async function operatorProcess(ns: string, name: string, flags: string[] = []) {
  const [probePort, metricsPort] = [await freePort(), await freePort()];
  const proc: ManagedProcess = startOperatorProcess(
    [
      `--watch-namespaces=${ns}`,
      `--health-probe-bind-address=127.0.0.1:${probePort}`,
      `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      ...flags,
    ],
    name,
  );
  return {
    process: proc,
    metrics: async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(),
    /** Resolves when the schedule controller is running (its informers synced). */
    started: () =>
      until(
        `${name}: schedule controller started`,
        async () => readFileSync(proc.logFile, 'utf8').includes('serverimageschedule controller started'),
        30_000,
      ),
  };
}

/** Events of an object, by reason. */
export async function eventsOf(client: SimTestClient, ns: string, name: string, reason?: string) {
  const list = await client.core.listNamespacedEvent({
    namespace: ns,
    fieldSelector: `involvedObject.name=${name},involvedObject.kind=ServerImageSchedule`,
  });
  return list.items.filter((e) => reason === undefined || e.reason === reason);
}
