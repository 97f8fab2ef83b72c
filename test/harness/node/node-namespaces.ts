// How the real node's processes run (containerd, the kubelet, kube-proxy, and commands on
// its mounts): always in the node's network namespace (netns.ts), and with `own: true` also
// in a PID and mount namespace of the node's own, as a machine has. There the node's PID 1
// is the bed's pause program (it reaps orphans), started in the node's network namespace.
// Needed by KubeVirt's virt-handler, a hostPID Pod that enters "the host" through /proc/1
// (virt-chroot --mount /proc/1/ns/mnt, /proc/1/root): on this machine the host's own PID 1
// is a process even root may not inspect (readlink /proc/1/ns/mnt: permission denied).
// Mounts made in the node (the kubelet's volumes, the containers' root file systems,
// virt-handler's) stay there, and all of them and every process left go with the
// namespace when stop() ends its PID 1. Without `own`, the node shares the host's mounts
// and processes (`nsenter --net` alone).
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { startProcess, waitFor, type ManagedProcess } from '../process.js';
import { toolPath } from '../tools.js';
import type { NodeNetwork } from './netns.js';

const execFileAsync = promisify(execFile);

export interface NodeNamespaces {
  /** Starts a process in the node; stop() signals that process itself. */
  start(command: string, args: string[], logFile: string): ManagedProcess;
  /** Runs a command in the node (its network and mounts) and returns its stdout. */
  exec(command: string, args: string[]): Promise<string>;
  /** With `own`: ends PID 1, so the kernel kills what is left in the node and its mounts go. */
  stop(): Promise<void>;
}

/** The children of a process (host PIDs). */
function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8')
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number),
    );
  } catch {
    return [];
  }
}

export async function startNodeNamespaces(
  network: NodeNetwork,
  options: { own: boolean; logFile: string },
): Promise<NodeNamespaces> {
  if (!options.own) {
    // nsenter with only --net execs the command: its PID is the command's, signals reach it.
    const inNet = (command: string, args: string[]) => [`--net=${network.path}`, '--', command, ...args];
    return {
      start: (command, args, logFile) => startProcess('nsenter', inNet(command, args), logFile),
      exec: async (command, args) => (await execFileAsync('nsenter', inNet(command, args))).stdout,
      stop: async () => undefined,
    };
  }
  // Every mount of the node shared (in the node only: the host's are private here), as
  // systemd leaves a machine's /: a mount made later under the kubelet's folder (virt-handler
  // binds each containerDisk's file into its launcher Pod's emptyDir) reaches the containers,
  // whose volume mounts are slaves of the node's.
  const unshare = startProcess(
    'nsenter',
    [
      `--net=${network.path}`,
      '--',
      'unshare',
      '--pid',
      '--mount',
      '--fork',
      '--mount-proc',
      '--propagation',
      'shared',
      '--kill-child',
      toolPath('pause'),
    ],
    options.logFile,
  );
  let initPid = 0;
  await waitFor(
    "the node's PID 1",
    async () => {
      if (unshare.hasExited()) throw new Error(`unshare exited: ${unshare.tail()}`);
      // nsenter execs unshare (same PID), which forks PID 1.
      initPid = childrenOf(unshare.child.pid!)[0] ?? 0;
      return initPid > 0;
    },
    10_000,
  ).catch(async (err: unknown) => {
    await unshare.stop('SIGKILL'); // --kill-child takes PID 1 with it
    throw err;
  });
  // PID 1 is in the node's network namespace: entering its three enters all of the node.
  const enter = ['-t', String(initPid), '--net', '--pid', '--mount', '--'];
  return {
    start(command, args, log) {
      const p = startProcess('nsenter', [...enter, command, ...args], log);
      const exited = new Promise<void>((resolve) => {
        if (p.hasExited()) resolve();
        else p.child.once('exit', () => resolve());
      });
      return {
        ...p,
        // Entering a PID namespace, nsenter forks the command and does not pass signals on:
        // signal the command.
        async stop(signal: NodeJS.Signals = 'SIGTERM') {
          if (p.hasExited()) return;
          const kill = (sig: NodeJS.Signals) => {
            for (const pid of childrenOf(p.child.pid!))
              try {
                process.kill(pid, sig);
              } catch {
                // gone meanwhile
              }
          };
          kill(signal);
          const timer = setTimeout(() => {
            kill('SIGKILL');
            p.child.kill('SIGKILL');
          }, 5000);
          await exited;
          clearTimeout(timer);
        },
      };
    },
    async exec(command, args) {
      return (
        await execFileAsync('nsenter', ['-t', String(initPid), '--net', '--mount', '--', command, ...args])
      ).stdout;
    },
    async stop() {
      // unshare holds SIGTERM while it waits for its child: end PID 1 itself.
      try {
        process.kill(initPid, 'SIGKILL');
      } catch {
        // already gone
      }
      await unshare.stop();
    },
  };
}
