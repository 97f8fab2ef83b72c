// The bed's container images (tools/build-images.sh builds them once and tags each by a
// hash of its inputs): their references, and containers of them through testcontainers.
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GenericContainer } from 'testcontainers';

export type ImageName =
  | 'node-base'
  | 'operator'
  | 'exporter'
  | 'pause'
  | 'coredns'
  // Real VMs (built only when asked for): KubeVirt's node side, virt-api and a guest containerDisk.
  | 'vm-base'
  | 'virt-launcher'
  | 'virt-handler'
  | 'vm-guest'
  | 'virt-api'
  // CDI's importer image, for the real CDI controller's importer Pods.
  | 'cdi-importer'
  // kubernetes-csi's hostpath driver and its sidecars, the real node's CSI driver for real VMs.
  | 'csi-hostpath';

const buildScript = path.join(path.dirname(fileURLToPath(import.meta.url)), 'tools', 'build-images.sh');
const refs = new Map<ImageName, string>();

/**
 * The engine's reference of a bed image (`serverimage-testbed/NAME:KEY`). Builds it if it
 * is not there (minutes cold; the script's progress lines go to stderr), else returns at once.
 */
export function imageRef(name: ImageName): string {
  let ref = refs.get(name);
  if (!ref) {
    const out = execFileSync('bash', [buildScript, name], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    for (const line of out.trim().split('\n')) {
      const [n, r] = line.split('=') as [ImageName, string];
      refs.set(n, r);
    }
    ref = refs.get(name);
    if (!ref) throw new Error(`build-images.sh ${name} printed no reference for it:\n${out}`);
  }
  return ref;
}

/** The image's `docker save` tarball (for runtimes other than the engine's). */
export function imageTarball(name: ImageName): string {
  const key = imageRef(name).split(':').pop()!;
  const cache =
    process.env.SERVERIMAGE_TOOLS_CACHE ?? path.join(os.homedir(), '.cache/serverimage-operator/tools');
  return path.join(cache, 'images', `${name}-${key}.tar`);
}

// testcontainers reaches the engine through its socket; these describe this machine's: there
// is no bridge network (containers share the host's, so the host is localhost), and its
// resource reaper's image cannot be pulled (each test stops what it starts).
process.env.TESTCONTAINERS_HOST_OVERRIDE ??= 'localhost';
process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';

/** A container on the host's network, with the root file system read-only as a Pod's can be. */
export class HostContainer extends GenericContainer {
  constructor(image: string) {
    super(image);
    this.withNetworkMode('host');
  }

  /** `securityContext.readOnlyRootFilesystem: true` (testcontainers has no option for it). */
  withReadOnlyRootFilesystem(): this {
    this.hostConfig.ReadonlyRootfs = true;
    return this;
  }
}
