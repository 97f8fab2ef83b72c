// The incremental bench's peers: Kopia (what Velero and OADP use for file-system and
// block-mode backups) and restic, each snapshotting the raw disk file into a local
// repository once a day, with their defaults but for one choice: Kopia compresses only
// when a policy says so, and is given zstd (its level 3 default, ours too), so the
// repositories compare like with like; restic compresses by default (repository v2,
// `auto`). They read the disk file itself, from the page cache; ours read it through the
// export server over TLS. Built from the Go module proxy at versions.env's versions
// (build-tools.sh, bench-only: built on first use).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { toolPath } from '../harness/tools.js';
import { measure, type Measured } from './measure.js';

export type BackupPeerName = 'kopia' | 'restic';

export interface BackupPeer {
  name: BackupPeerName;
  title: string;
  /** One snapshot of `dir` (the folder holding only the disk file), measured. */
  snapshot(dir: string): Promise<Measured>;
  /** The repository's size on disk (du), caches and config left out. */
  repositoryBytes(): number;
}

/** Bytes of a folder on disk, as `du -sk` counts them. */
export function duBytes(dir: string): number {
  return Number(execFileSync('du', ['-sk', dir], { encoding: 'utf8' }).split('\t')[0]) * 1024;
}

/** The tool's binary, built on first use with a line saying so (minutes on a busy machine). */
function peerTool(name: BackupPeerName): string {
  console.error(`bench: finding ${name} (built from the Go module proxy on first use: minutes)`);
  return toolPath(name);
}

const PASSWORD = 'bench-only-repository-password';

/** The pinned version of a tool, as versions.env has it (for the table's titles). */
function pinned(variable: string): string {
  const file = path.join(
    path.dirname(fileURLToPath(import.meta.url)),
    '..',
    'harness',
    'tools',
    'versions.env',
  );
  return new RegExp(`^${variable}=(\\S+)$`, 'm').exec(readFileSync(file, 'utf8'))?.[1] ?? '?';
}

export async function startKopia(work: string): Promise<BackupPeer> {
  const kopia = peerTool('kopia');
  const root = path.join(work, 'kopia');
  const repository = path.join(root, 'repository');
  mkdirSync(repository, { recursive: true });
  const env = {
    ...process.env,
    KOPIA_PASSWORD: PASSWORD,
    KOPIA_CONFIG_PATH: path.join(root, 'repository.config'),
    KOPIA_CACHE_DIRECTORY: path.join(root, 'cache'),
    KOPIA_LOG_DIR: path.join(root, 'logs'),
    KOPIA_CHECK_FOR_UPDATES: 'false',
  };
  await measure(kopia, ['repository', 'create', 'filesystem', '--path', repository], env);
  await measure(kopia, ['policy', 'set', '--global', '--compression', 'zstd'], env);
  return {
    name: 'kopia',
    title: `Kopia ${pinned('KOPIA_VERSION')} (zstd)`,
    snapshot: (dir) => measure(kopia, ['snapshot', 'create', dir], env),
    repositoryBytes: () => duBytes(repository),
  };
}

export async function startRestic(work: string): Promise<BackupPeer> {
  const restic = peerTool('restic');
  const root = path.join(work, 'restic');
  const repository = path.join(root, 'repository');
  const env = {
    ...process.env,
    RESTIC_PASSWORD: PASSWORD,
    RESTIC_REPOSITORY: repository,
    RESTIC_CACHE_DIR: path.join(root, 'cache'),
  };
  await measure(restic, ['init'], env);
  return {
    name: 'restic',
    title: `restic ${pinned('RESTIC_VERSION')}`,
    snapshot: (dir) => measure(restic, ['backup', '--host', 'bench', dir], env),
    repositoryBytes: () => duBytes(repository),
  };
}
