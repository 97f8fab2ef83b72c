// restore (SERVERIMAGE | REGISTRY_REFERENCE) --name VM: a new VirtualMachine from an image.
// Everything is resolved first (the definition from the registry, the access it needs), so
// a bad reference fails with one line and nothing is created; then the manifests are
// printed (-o yaml, for GitOps) or created in order, the VirtualMachine last.
import { KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import type { RestoreCommand } from '../args.js';
import { ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { materializeChunkedVolumes } from '../restore/materialize-chunked.js';
import { restoreManifests, type Manifest } from '../restore/restore-manifests.js';
import {
  isRegistryReference,
  sourceFromReference,
  sourceFromServerImage,
  type RestoreSource,
} from '../restore/restore-source.js';
import type { CommandContext } from './context.js';

/** The image a restore (or a materialize) reads: a ServerImage, or a bare registry reference. */
export async function resolveSource(
  command: Pick<RestoreCommand, 'source' | 'fromNamespace' | 'credentials' | 'caSecret' | 'insecure'>,
  ctx: CommandContext,
): Promise<RestoreSource> {
  const { kubeConfig } = ctx.client;
  if (isRegistryReference(command.source)) {
    return sourceFromReference(kubeConfig, command.source, {
      namespace: ctx.namespace,
      credentialsSecret: command.credentials,
      caSecret: command.caSecret,
      insecure: command.insecure,
    });
  }
  const image = await ctx.client.get(command.fromNamespace ?? ctx.namespace, command.source);
  return sourceFromServerImage(kubeConfig, image);
}

export async function restoreCommand(command: RestoreCommand, ctx: CommandContext): Promise<ExitCodeValue> {
  const resolved = await resolveSource(command, ctx);
  // Progress of a materialization goes to stderr, so that -o yaml stays clean.
  const { document } = await materializeChunkedVolumes(
    resolved.document,
    resolved.access,
    command.materializeTag,
    (line) => ctx.io.stderr.write(line),
  );
  const source = { ...resolved, document };
  const manifests = restoreManifests(source.document, {
    name: command.name,
    namespace: ctx.namespace,
    as: command.as,
    storageClass: command.storageClass,
    newIdentity: command.newIdentity,
    runStrategy: command.runStrategy,
    pullMethod: command.pullMethod,
    credentials: source.access.credentials,
    caPem: source.access.caPem,
  });
  if (command.output === 'yaml') {
    ctx.io.stdout.write(manifests.map((m) => stringify(m)).join('---\n'));
    return ExitCode.Ok;
  }
  await createAll(KubernetesObjectApi.makeApiClient(ctx.client.kubeConfig), manifests);
  ctx.io.stdout.write(`Restoring from ${source.origin}\n`);
  for (const m of manifests)
    ctx.io.stdout.write(
      `${m.kind.toLowerCase()}/${m.metadata.name} created in namespace ${m.metadata.namespace}\n`,
    );
  const volumes = source.document.volumes.map((v) => `${v.volume} <- ${v.reference}`).join('\n  ');
  ctx.io.stdout.write(`Volumes (${command.as}):\n  ${volumes}\n`);
  return ExitCode.Ok;
}

/** Creates the manifests in order; when one is refused, the ones made before it are removed. */
async function createAll(api: KubernetesObjectApi, manifests: Manifest[]): Promise<void> {
  const created: Manifest[] = [];
  try {
    for (const manifest of manifests) {
      await api.create(manifest as KubernetesObject);
      created.push(manifest);
    }
  } catch (err) {
    for (const made of created.reverse()) await api.delete(made as KubernetesObject).catch(() => undefined);
    throw err;
  }
}
