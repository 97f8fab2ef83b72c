// Child processes of the test bed: output goes to a log file (shown when start-up
// fails), and every child is killed when the test process exits.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

export interface ManagedProcess {
  child: ChildProcess;
  logFile: string;
  /** The last lines of the log, for error messages. */
  tail(lines?: number): string;
  /** Whether it has exited (or was killed). */
  hasExited(): boolean;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export function startProcess(
  command: string,
  args: string[],
  logFile: string,
  env?: NodeJS.ProcessEnv,
): ManagedProcess {
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(command, args, { env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  children.add(child);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      children.delete(child);
      resolve();
    }),
  );
  return {
    child,
    logFile,
    tail(lines = 30) {
      try {
        return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      } catch {
        return '';
      }
    },
    hasExited: () => child.exitCode !== null || child.signalCode !== null,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Polls `probe` until it returns true; fails with `describe()` after `timeoutMs`. */
export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  describe: () => string = () => '',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await probe()) return;
    } catch (err) {
      if (err instanceof ExitedEarly) throw err;
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${what} not ready after ${timeoutMs} ms\n${describe()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Starts a server on a port from freePort() and waits until `ready`. Another process may take
 * the port between freePort() and the server's bind (the tests of a run start many servers):
 * a server that exits before it is ready is started again on a new port, up to three times.
 */
export async function startOnFreePort<T extends { process: ManagedProcess }>(
  what: string,
  start: (port: number) => T | Promise<T>,
  ready: (started: T) => Promise<boolean>,
  timeoutMs: number,
  freePort: () => Promise<number>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const started = await start(await freePort());
    try {
      await waitFor(
        what,
        async () => {
          if (started.process.hasExited()) throw new ExitedEarly();
          return ready(started);
        },
        timeoutMs,
        () => started.process.tail(),
      );
      return started;
    } catch (err) {
      await started.process.stop();
      if (!(err instanceof ExitedEarly) || attempt === 3)
        throw err instanceof ExitedEarly
          ? new Error(`${what} exited before it was ready\n${started.process.tail()}`)
          : err;
    }
  }
}

/** Thrown by a probe when its process has exited: waitFor gives up at once instead of retrying. */
export class ExitedEarly extends Error {}
