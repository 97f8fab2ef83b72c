// How the simulated CDI turns a DataVolume's `source.registry` into the bytes of its PVC.
// The importer is a plug: the simulator takes any RegistryImporter (the real cdi-importer
// run by test/harness, once wired in), and by default uses craneImporter below, which reads
// the containerDisk with crane (a tool we did not write) the way CDI does: the first
// regular file under disk/ in the image's filesystem is the disk.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';
import { toolPath } from '../tools.js';

export interface RegistryImport {
  namespace: string;
  dataVolume: string;
  /** spec.source.registry.url as the user wrote it, e.g. docker://registry:5000/repo:tag. */
  url: string;
  /** The same with hostAliases applied: what a reader on this machine can reach. */
  reachableUrl: string;
  /** spec.source.registry.certConfigMap / secretRef, as written (not resolved here). */
  certConfigMap?: string;
  secretRef?: string;
  /** Where the disk goes (the PVC's disk.img); write it whole, the caller renames. */
  targetFile: string;
  /** The PVC's requested size in bytes. */
  sizeBytes: number;
  /** Progress, 0..100. */
  onProgress(percent: number): void;
}

export type RegistryImporter = (job: RegistryImport) => Promise<void>;

/** docker://host:port/repo:tag -> host:port/repo:tag (CDI's registry URLs), aliases applied. */
export function reachableRegistryUrl(url: string, hostAliases: Record<string, string>): string {
  const m = /^(docker|oci-archive):\/\/([^/]+)(\/.*)$/.exec(url);
  if (!m) throw new Error(`unsupported registry URL ${url} (want docker://HOST/REPO[:TAG|@DIGEST])`);
  return `${m[1]}://${hostAliases[m[2]!] ?? m[2]}${m[3]}`;
}

/**
 * `crane export IMAGE -` and the first regular file under disk/ (raw or qcow2, copied as
 * it is). Plain HTTP is allowed (--insecure): the bed's registries are on loopback.
 * Unlike cdi-importer it neither converts qcow2 nor grows the file to the PVC size.
 */
export const craneImporter: RegistryImporter = async (job) => {
  const ref = job.reachableUrl.replace(/^docker:\/\//, '');
  const child = spawn(toolPath('crane'), ['export', '--insecure', ref, '-'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
  const tmp = `${job.targetFile}.import`;
  let found = false;
  const tar = extract();
  tar.on('entry', (header, stream, next) => {
    if (found || header.type !== 'file' || !/^\.?\/?disk\/[^/]+$/.test(header.name)) {
      stream.on('end', next);
      stream.resume();
      return;
    }
    found = true;
    let done = 0;
    const total = header.size ?? 0;
    stream.on('data', (c: unknown) => {
      done += (c as Buffer).length;
      if (total > 0) job.onProgress((100 * done) / total);
    });
    pipeline(stream, createWriteStream(tmp)).then(() => next(), next);
  });
  try {
    await pipeline(child.stdout, tar);
    const code = await exited;
    if (code !== 0) throw new Error(`crane export ${ref} exited ${code}: ${stderr.trim()}`);
    if (!found) throw new Error('Failed to find VM disk image file in the container image');
    await rename(tmp, job.targetFile);
  } catch (err) {
    child.kill();
    await rm(tmp, { force: true });
    throw err;
  }
};
