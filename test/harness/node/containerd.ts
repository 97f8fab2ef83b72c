// The bed node's container runtime: Debian's containerd (installed with the engine by
// tools/container-engine.sh) on a socket and folders of its own, with its CRI plugin on
// (the engine's own containerd has it off), the overlayfs snapshotter and runc. Images
// come from the tarballs tools/build-images.sh saves (`ctr images import`), since no
// outside registry can be reached; a test's own registry (on the host's end of the node's
// link) is reached through a hosts.toml (trustRegistry). It runs in the node's network
// namespace (netns.ts): the CNI plugins it calls make the Pod bridge there.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { waitFor, type ManagedProcess } from '../process.js';

const execFileAsync = promisify(execFile);

export interface Containerd {
  /** unix:// endpoint for the kubelet's containerRuntimeEndpoint. */
  endpoint: string;
  socket: string;
  process: ManagedProcess;
  /** `ctr -n k8s.io images import FILE`: the image under the name it was saved with. */
  importImage(tarball: string): Promise<void>;
  /**
   * Lets the CRI plugin pull from a registry at `host` (host:port) over plain HTTP or HTTPS
   * with `caPem`: a hosts.toml in the config_path folder, read at each pull (no restart).
   */
  trustRegistry(host: string, options: { tls: boolean; caPem?: string }): void;
  /** `ctr -n k8s.io ARGS`: the runtime's own view (containers ls, tasks ls). */
  ctr(args: string[]): Promise<string>;
  /** The network namespace files of its Pod sandboxes (removed by stop()). */
  sandboxNetns(): Promise<string[]>;
  /** Kills every container, stops containerd and any shim left (they outlive it by design). */
  stop(): Promise<void>;
}

function config(dir: string, sandboxImage: string): string {
  return `version = 2
root = "${dir}/root"
state = "${dir}/state"
[grpc]
  address = "${dir}/containerd.sock"
[ttrpc]
  address = "${dir}/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${sandboxImage}"
  # Root here lacks CAP_SYS_RESOURCE: a negative oom_score_adj (the kubelet asks -998 for
  # a sandbox) cannot be written, and runc fails the container. This clamps it to
  # containerd's own score, as for rootless containerd.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${dir}/cni/bin"
    conf_dir = "${dir}/cni/net.d"
  # Registries by host (trustRegistry): a test's registry on the host's end of the node's
  # link, which the CRI plugin would otherwise only try over HTTPS.
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "${dir}/certs.d"
`;
}

/** Shim processes started for this containerd (their command line names its socket). */
function shimPids(socket: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmdline[0]?.endsWith('containerd-shim-runc-v2') && cmdline.includes(socket)) pids.push(+entry);
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** The network namespaces of this containerd's Pod sandboxes (the CRI plugin's `/run/netns/cni-*`). */
async function sandboxNetns(ctr: (args: string[]) => Promise<string>): Promise<string[]> {
  const ids = (await ctr(['containers', 'ls', '-q']).catch(() => '')).split('\n').filter(Boolean);
  // At once: each `ctr` call is a process start, seconds on a loaded machine.
  const infos = await Promise.all(ids.map((id) => ctr(['containers', 'info', id]).catch(() => '')));
  const paths = infos.flatMap((info) =>
    [...info.matchAll(/"path": "(\/(?:var\/)?run\/netns\/cni-[^"]+)"/g)].map((m) => m[1]!),
  );
  return [...new Set(paths)];
}

export async function startContainerd(
  dir: string,
  sandboxImage: string,
  /** Starts a process in the node (node-namespaces.ts). */
  spawn: (command: string, args: string[], logFile: string) => ManagedProcess,
): Promise<Containerd> {
  const missing = ['containerd', 'ctr', 'runc'].filter(
    (cmd) => !process.env.PATH?.split(':').some((d) => existsSync(path.join(d, cmd))),
  );
  if (missing.length > 0)
    throw new Error(
      `${missing.join(', ')} not found on PATH: \`npm run testbed:images\` installs Debian's docker.io, which brings containerd and runc`,
    );
  mkdirSync(path.join(dir, 'cni/net.d'), { recursive: true });
  mkdirSync(path.join(dir, 'cni/bin'), { recursive: true });
  const file = path.join(dir, 'containerd.toml');
  writeFileSync(file, config(dir, sandboxImage));
  const socket = path.join(dir, 'containerd.sock');
  const proc = spawn('containerd', ['--config', file], path.join(dir, 'containerd.log'));
  const ctr = async (args: string[]) =>
    (await execFileAsync('ctr', ['--address', socket, '--namespace', 'k8s.io', ...args])).stdout;
  await waitFor(
    'containerd to answer',
    async () =>
      existsSync(socket) &&
      (await ctr(['version'])
        .then(() => true)
        .catch(() => false)),
    30_000,
  ).catch((err: Error) => {
    void proc.stop('SIGKILL');
    throw new Error(`${err.message}\ncontainerd log:\n${proc.tail()}`);
  });
  return {
    endpoint: `unix://${socket}`,
    socket,
    process: proc,
    async importImage(tarball) {
      await ctr(['images', 'import', tarball]);
    },
    trustRegistry(host, { tls, caPem }) {
      const hostDir = path.join(dir, 'certs.d', host);
      mkdirSync(hostDir, { recursive: true });
      const server = `${tls ? 'https' : 'http'}://${host}`;
      if (caPem) writeFileSync(path.join(hostDir, 'ca.crt'), caPem);
      writeFileSync(
        path.join(hostDir, 'hosts.toml'),
        `server = "${server}"\n\n[host."${server}"]\n  capabilities = ["pull", "resolve"]\n` +
          (caPem ? `  ca = "${path.join(hostDir, 'ca.crt')}"\n` : ''),
      );
    },
    ctr,
    sandboxNetns: () => sandboxNetns(ctr),
    async stop() {
      // The sandboxes' network namespaces are bind mounts of the CRI plugin's that outlive
      // it unless their sandboxes are removed through the CRI: found now, removed below.
      const netns = await sandboxNetns(ctr);
      // Every container and sandbox first: killing a shim would leave its container's
      // processes behind, reparented to init.
      const tasks = (await ctr(['tasks', 'ls', '-q']).catch(() => '')).split('\n').filter(Boolean);
      await Promise.all(tasks.map((id) => ctr(['tasks', 'delete', '--force', id]).catch(() => undefined)));
      await proc.stop();
      for (const pid of shimPids(socket)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      for (const file of netns)
        await execFileAsync('umount', [file]).then(
          () => rmSync(file, { force: true }),
          () => rmSync(file, { force: true }),
        );
    },
  };
}
