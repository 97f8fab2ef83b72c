// The ServerImage a `create` command asks for. Only what the user gave goes in: the
// API server applies the schema defaults (insecure=false, deletionPolicy=Retain) and
// judges the values, so a refusal carries its message and field path.
import type { CreateCommand } from './args.js';
import { defaultImageName } from './image-name.js';
import { API_VERSION, SERVERIMAGE_KIND } from '../api/kinds.js';

export interface ServerImageRequest {
  apiVersion: string;
  kind: typeof SERVERIMAGE_KIND;
  metadata: { name: string; namespace: string };
  spec: Record<string, unknown>;
}

/** "{vm}" in a repository stands for the VM name, so one $SERVERIMAGE_REPOSITORY serves all VMs. */
export function expandRepository(repository: string, vm: string): string {
  return repository.replaceAll('{vm}', vm);
}

export function buildServerImage(command: CreateCommand, namespace: string, now: Date): ServerImageRequest {
  const registry: Record<string, unknown> = { repository: expandRepository(command.repository, command.vm) };
  if (command.tag !== undefined) registry.tag = command.tag;
  if (command.credentials !== undefined) registry.credentialsSecretRef = { name: command.credentials };
  if (command.caSecret !== undefined) registry.caBundleSecretRef = { name: command.caSecret };
  if (command.insecure) registry.insecure = true;

  const spec: Record<string, unknown> = { serverRef: { name: command.vm } };
  if (command.imageName !== undefined) spec.imageName = command.imageName;
  if (Object.keys(command.properties).length > 0) spec.metadata = command.properties;
  spec.registry = registry;
  if (command.volumes.length > 0) spec.volumes = command.volumes;
  if (command.deletionPolicy !== undefined) spec.deletionPolicy = command.deletionPolicy;

  return {
    apiVersion: API_VERSION,
    kind: SERVERIMAGE_KIND,
    metadata: { name: command.name ?? defaultImageName(command.vm, now), namespace },
    spec,
  };
}
