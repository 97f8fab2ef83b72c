// A command run in a mount namespace of its own (`unshare --mount`) whose /etc is the
// host's with the entries of `ETC/upper` laid over it (an overlay mount), so that the
// bed can give one process a file in /etc (virt-controller's export CA, a process's
// /etc/hosts) without touching the host's. The process keeps its pid: unshare and sh
// exec into it, so a signal sent to the child reaches `command` itself.
import { mkdirSync } from 'node:fs';
import path from 'node:path';

/** The command line to start instead of `command args`; `etc` holds `upper/` and `work/` (one mount each). */
export function withEtcOverlay(
  etc: string,
  command: string,
  args: string[],
): { command: string; args: string[] } {
  mkdirSync(path.join(etc, 'upper'), { recursive: true });
  mkdirSync(path.join(etc, 'work'), { recursive: true });
  const script = [
    `mount -t overlay overlay -o lowerdir=/etc,upperdir=${etc}/upper,workdir=${etc}/work /etc`,
    'exec "$0" "$@"',
  ].join(' && ');
  return {
    command: 'unshare',
    args: ['--mount', '--propagation=private', 'sh', '-c', script, command, ...args],
  };
}
