// QEMU's qemu-img, a reader of qcow2 we did not write: `check` (the file's
// structure and refcounts), `compare` (same guest bytes as the raw disk), `map`.
// Found as envtest finds its binaries: TEST_ASSET_QEMU_IMG first, then the test
// bed's tools (build-tools.sh unpacks Debian's qemu-utils into its cache). If it
// cannot be had, a test that needs it fails and says why: a qcow2 nobody checked is no test.
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { toolPath } from './tools.js';

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function qemuImgPath(): string {
  const fromEnv = process.env.TEST_ASSET_QEMU_IMG;
  if (fromEnv && executable(fromEnv)) return fromEnv;
  let built: string;
  try {
    built = toolPath('qemu-img');
  } catch (err) {
    throw new Error(
      `qemu-img is not available: the test bed's tool build (test/harness/tools/build-tools.sh qemu-img, ` +
        `Debian's qemu-utils) failed: ${(err as Error).message}; or set TEST_ASSET_QEMU_IMG to a qemu-img binary`,
      { cause: err },
    );
  }
  if (!executable(built)) {
    throw new Error(
      `qemu-img is not available: ${built} is missing; or set TEST_ASSET_QEMU_IMG to a qemu-img binary`,
    );
  }
  return built;
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
