// Cluster DNS for the bed's child processes (an operator started as its own process, the
// demo's operator): the Service names the bed routes (service-routing.ts) in an
// /etc/hosts that only those processes see, so that their code dials links.internal
// (https://virt-export-NAME.NS.svc/...) as on a cluster.
//  - The bed keeps one hosts file current (`HostsFile`): the host's own lines, then one
//    line per routed Service. Each change writes a new file and renames it over the old
//    one, so a reader sees the old file or the new one, never half of one.
//  - A process gets it by running in a mount namespace of its own (`unshare --mount`)
//    whose /etc is an overlay of the host's with one entry added: `hosts`, a symlink to
//    that file. glibc's `files` backend (nsswitch `hosts: files dns`) opens /etc/hosts
//    on every getaddrinfo, which Node's dns.lookup (node:net, https, fetch) calls, and
//    the open follows the symlink to whatever file the name holds now. A bind mount of
//    the file itself would pin the inode of the day it was mounted.
// Chosen over a DNS server on a loopback address with a resolv.conf in the overlay: no
// server to run, no DNS packets to encode, and the host's resolver stays as it is for
// every other name.
import { mkdirSync, mkdtempSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { withEtcOverlay } from './etc-overlay.js';

/** The hosts file the bed keeps current; `path` is what a process's /etc/hosts points at. */
export class HostsFile {
  readonly path: string;
  private readonly hostLines: string;
  private generation = 0;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.path = path.join(dir, 'hosts');
    // localhost and the machine's own names keep resolving inside the namespace.
    this.hostLines = readFileSync('/etc/hosts', 'utf8').trimEnd();
    this.write(new Map());
  }

  /** Every routed Service: `NAME.NS.svc` (and `.svc.cluster.local`) -> its address. */
  write(byHost: ReadonlyMap<string, string>): void {
    const services = [...byHost].map(([host, address]) => `${address} ${host} ${host}.cluster.local`);
    const text = [this.hostLines, "# the test bed's Services (real/service-routing.ts)", ...services, ''];
    const next = `${this.path}.${process.pid}.${this.generation++}`;
    writeFileSync(next, text.join('\n'));
    renameSync(next, this.path);
  }
}

/** `command args` as a process whose /etc/hosts is the file at `hostsPath`: the command line to start instead. */
export function withClusterDns(
  hostsPath: string,
  command: string,
  args: string[],
): { command: string; args: string[] } {
  // An overlay's upper and work folders serve one mount: a pair per process.
  const etc = mkdtempSync(path.join(path.dirname(hostsPath), 'etc-'));
  mkdirSync(path.join(etc, 'upper'));
  symlinkSync(hostsPath, path.join(etc, 'upper', 'hosts'));
  return withEtcOverlay(etc, command, args);
}
