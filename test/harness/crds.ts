// Installs the project's own CRDs (crds/*.yaml) with the real kubectl, as users do.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { kubectl } from './testbed.js';

export const CRDS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'crds');

export async function installProjectCrds(): Promise<void> {
  const applied = await kubectl(['apply', '--server-side', '-f', CRDS_DIR]);
  if (applied.code !== 0) throw new Error(`kubectl apply -f crds/ failed: ${applied.stderr}`);
  const established = await kubectl([
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd/serverimages.serverimage.io',
    'crd/serverimageschedules.serverimage.io',
  ]);
  if (established.code !== 0) throw new Error(`CRDs not established: ${established.stderr}`);
}
