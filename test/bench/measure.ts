// Runs a command and measures it: wall time and the peak resident set size of
// the process (GNU time's %M, the kernel's maxrss of the child) and what it wrote
// to storage (%O).
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface Measured {
  wallMs: number;
  maxRssBytes: number;
  /** Blocks (512 bytes) the process wrote to storage (rusage ru_oublock). */
  fsOutputBlocks: number;
  /** User + system CPU seconds of the process. */
  cpuSeconds: number;
  stdout: string;
}

export async function measure(command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<Measured> {
  const timeFile = path.join(tmpdir(), `bench-time-${process.pid}-${Date.now()}`);
  const started = performance.now();
  const child = spawn('/usr/bin/time', ['-o', timeFile, '-f', '%M %O %U %S', command, ...args], {
    env: env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  const wallMs = performance.now() - started;
  const [kib, blocks, user, system] = readFileSync(timeFile, 'utf8')
    .trim()
    .split('\n')
    .at(-1)!
    .split(' ')
    .map(Number);
  rmSync(timeFile, { force: true });
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${code}): ${stderr.slice(-2000)}`);
  return { wallMs, maxRssBytes: kib! * 1024, fsOutputBlocks: blocks!, cpuSeconds: user! + system!, stdout };
}
