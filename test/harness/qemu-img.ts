// QEMU's qemu-img, a reader of qcow2 we did not write: `check` (the file's
// structure and refcounts), `compare` (same guest bytes as the raw disk), `map`.
// Found as envtest finds its binaries: TEST_ASSET_QEMU_IMG, then the test bed's
// tool cache ($SERVERIMAGE_TOOLS_CACHE/bin, Debian's qemu-utils unpacked there).
// Missing, a test that needs it fails and says so: a qcow2 nobody checked is no test.
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function qemuImgPath(): string {
  const cache =
    process.env.SERVERIMAGE_TOOLS_CACHE ?? path.join(os.homedir(), '.cache', 'serverimage-operator', 'tools');
  const candidates = [process.env.TEST_ASSET_QEMU_IMG, path.join(cache, 'bin', 'qemu-img')].filter(
    (p): p is string => Boolean(p),
  );
  const found = candidates.find(executable);
  if (!found) {
    throw new Error(
      `qemu-img not found (looked at ${candidates.join(', ')}): the test bed's tool build provides it ` +
        '(Debian qemu-utils, unpacked into the tool cache); or set TEST_ASSET_QEMU_IMG to a qemu-img binary',
    );
  }
  return found;
}

export interface QemuImgResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs qemu-img; never throws on a non-zero exit (check and compare report through it). */
export function qemuImg(args: string[]): QemuImgResult {
  try {
    const stdout = execFileSync(qemuImgPath(), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { code: 0, stdout, stderr: '' };
  } catch (err) {
    const e = err as { status?: number; stdout?: string; stderr?: string; message: string };
    if (e.status === undefined || e.status === null) throw err;
    return { code: e.status, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
