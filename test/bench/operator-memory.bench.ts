// `npm run bench:operator [-- --disk 64M --transfers 1,4,16]`: the operator's own memory and CPU
// while transfer Pods push ServerImages, as its image runs it (compiled JavaScript from
// `npm run build`, plain Node with the image's flags), not under tsx, on the real-KubeVirt test
// bed with its real node (kube-apiserver + etcd, KubeVirt's virt-controller making the
// snapshots and exports, the real virt-exportserver and the transfer Pods as containers on the
// node; test/harness/kubevirt/real/bed.ts) and a real registry the node's Pods reach. For each
// count of the phases (`--transfers`), that many VMs with a `--disk` disk (synthetic: 1/4
// random, 1/4 text-like, 1/2 zeros) and a ServerImage each, all at once, with
// --max-concurrent-exports at the largest count so none waits for a slot:
//   - the operator's peak RSS (VmRSS sampled every 100 ms) and CPU seconds (/proc/PID/stat
//     utime+stime) from the ServerImages' creation until all are Active;
//   - the transfer Pods' CPU seconds, from their containers' cgroups on the node (cpuacct.usage,
//     read every 250 ms while they run: a container's last 250 ms may be missed) and their peak RSS (the
//     results they hand back, which the operator logs as "transfer Pod ended");
//   - afterwards: no transfer Pod, no Secret of ours, no upload session left.
// Prints a table with the load average and the targets: the operator's RSS at most 150 MiB at
// each count, its CPU at most 5% of the transfer Pods'; every ServerImage Active, nothing left.
// `--disk 1G --transfers 16` is the 16 × 1 GiB run (about 16 GiB of disk images on the bed).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { imageRef } from '../harness/container-images.js';
import { installProjectCrds } from '../harness/crds.js';
import { parseByteQuantity } from '../harness/disks.js';
import { startRealKubevirt } from '../harness/kubevirt/real/bed.js';
import { withClusterDns } from '../harness/kubevirt/real/cluster-dns.js';
import { SimTestClient, until } from '../harness/kubevirt/testing.js';
import { freePort } from '../harness/ports.js';
import { IMAGE_ENV, IMAGE_NODE_FLAGS } from './image-runtime.js';
import { startProcess } from '../harness/process.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { createNamespace, kubeConfig } from '../harness/testbed.js';
import {
  SERVERIMAGE,
  bedRegistryOptions,
  createServerImage,
  createVm,
  serverImage,
} from '../integration/serverimage-fixtures.js';

const MiB = 1024 * 1024;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const OURS = 'serverimage.io/serverimage';
const TRANSFER_PODS = `app.kubernetes.io/component=transfer,${OURS}`;
const CPUACCT = '/sys/fs/cgroup/cpuacct';
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

function parseArgs(argv: string[]) {
  const options = { disk: 64 * MiB, transfers: [1, 4, 16] };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[++i];
    if (value === undefined) throw new Error(`${argv[i - 1]} needs a value`);
    // "1G" means GiB here, as people say about disks.
    if (argv[i - 1] === '--disk') options.disk = parseByteQuantity(value.replace(/^(\d+)([KMGT])$/, '$1$2i'));
    else if (argv[i - 1] === '--transfers') {
      options.transfers = value.split(',').map(Number);
      if (options.transfers.some((n) => !Number.isInteger(n) || n < 1))
        throw new Error(`--transfers takes counts such as 1,4,16, not ${value}`);
    } else throw new Error(`unknown argument ${argv[i - 1]}`);
  }
  return options;
}

/** The process's resident set (VmRSS) and its high-water mark (VmHWM), bytes. */
function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

/** The process's CPU seconds so far, user and system (/proc/PID/stat fields 14 and 15). */
function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // After the command's closing parenthesis: field 3 (state) onwards.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Samples a process's RSS until stopped: the highest seen. */
function sampler(pid: number) {
  let high = 0;
  const take = () => {
    try {
      high = Math.max(high, memoryOf(pid).rss);
    } catch {
      // The process is gone; the caller sees it exit.
    }
  };
  take();
  const timer = setInterval(take, 100);
  return {
    stop: () => {
      clearInterval(timer);
      take();
      return high;
    },
  };
}

/**
 * A container's cgroup on the node: the node's containerd puts each under its namespace's
 * folder (k8s.io/<container id>; the kubelet, cgroupfs driver without QoS cgroups, gives no
 * Pod parent), or wherever another layout puts it one level down.
 */
function containerCgroup(id: string): string | undefined {
  for (const first of readdirSync(CPUACCT, { withFileTypes: true })) {
    if (!first.isDirectory()) continue;
    const dir = path.join(CPUACCT, first.name, id);
    if (existsSync(dir)) return dir;
  }
  return undefined;
}

/**
 * The transfer Pods' CPU seconds: their containers' cgroups' cpuacct.usage, read every 250 ms
 * while they exist (a cgroup goes with its container, so the last reading counts). Lists the
 * Pods every second (a container that came and went within one is missed: counted below).
 */
function transferPodsCpu(client: SimTestClient, ns: string) {
  const cgroups = new Map<string, string | undefined>();
  const usage = new Map<string, number>();
  const read = () => {
    for (const [id, dir] of cgroups) {
      if (!dir) continue;
      try {
        usage.set(id, Number(readFileSync(path.join(dir, 'cpuacct.usage'), 'utf8').trim()) / 1e9);
      } catch {
        // The Pod is gone: its last reading stays.
      }
    }
  };
  let listing = false;
  const list = async () => {
    if (listing) return;
    listing = true;
    try {
      const pods = await client.core.listNamespacedPod({ namespace: ns, labelSelector: TRANSFER_PODS });
      for (const pod of pods.items)
        for (const status of pod.status?.containerStatuses ?? []) {
          // "containerd://<id>", once the container was made.
          const id = status.containerID?.replace(/^[a-z]+:\/\//, '');
          if (id && !cgroups.get(id)) cgroups.set(id, containerCgroup(id));
        }
      read();
    } catch {
      // The next round lists again.
    } finally {
      listing = false;
    }
  };
  void list();
  const reader = setInterval(read, 250);
  const lister = setInterval(() => void list(), 1000);
  return {
    async stop() {
      clearInterval(reader);
      clearInterval(lister);
      read();
      const seen = [...cgroups.values()];
      return {
        seconds: [...usage.values()].reduce((a, b) => a + b, 0),
        containers: cgroups.size,
        withoutCgroup: seen.filter((dir) => !dir).length,
      };
    },
  };
}

interface EndedPod {
  pod: string;
  peakRssBytes?: number;
  started?: string;
  finished?: string;
}

/** The operator's "transfer Pod ended" lines (pino's JSON) from `offset` on. */
function endedPods(logFile: string, offset: number): EndedPod[] {
  return readFileSync(logFile, 'utf8')
    .slice(offset)
    .split('\n')
    .filter((line) => line.includes('"transfer Pod ended"'))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as EndedPod];
      } catch {
        return [];
      }
    });
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const loadAtStart = os.loadavg();
  console.error('bench:operator: npm run build');
  execFileSync(
    process.execPath,
    [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    { cwd: root, stdio: 'inherit' },
  );
  // Its own control plane, to which it points SERVERIMAGE_TESTBED_KUBECONFIG (kubeConfig()),
  // with the real node, into which the operator's image (the transfer Pods') is imported.
  const sim = await startRealKubevirt({ node: 'real', nodeImages: ['operator'] });
  const rows: string[][] = [];
  const targets: string[] = [];
  let stopOperator: (() => Promise<void>) | undefined;
  let registry: TestRegistry | undefined;
  try {
    const node = sim.realNode!;
    await installProjectCrds();
    // On the host's end of the node's link, where its Pods reach it; no fault proxy.
    registry = await startRegistry(bedRegistryOptions(sim, { proxy: false }));
    const client = new SimTestClient(kubeConfig());
    const ns = await createNamespace('bench-operator');
    await node.imported();

    const metricsPort = await freePort();
    // As the image runs it: Dockerfile's ENTRYPOINT flags and ENV (image-runtime.ts). Under the
    // bed's cluster DNS like the tests' operator process; the mount namespace's unshare and sh
    // exec into node, so the pid is the operator's. The transfer Pods: the operator's image as
    // the node's containerd calls it, pinned to the real node, with small requests (the
    // node's 2 cores are the machine's).
    const run = withClusterDns(sim.hostsFile, process.execPath, [
      ...IMAGE_NODE_FLAGS,
      path.join(root, 'dist/main.js'),
      `--kubeconfig=${sim.kubeconfigPath}`,
      `--max-concurrent-exports=${Math.max(...options.transfers)}`,
      `--transfer-image=docker.io/${imageRef('operator')}`,
      `--transfer-node-selector=kubernetes.io/hostname=${node.nodeName}`,
      '--transfer-cpu-request=10m',
      '--transfer-memory-request=64Mi',
      // 16 exporter Pods and 16 transfer Pods starting at once on 2 shared cores.
      '--export-timeout=10m',
      `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      '--health-probe-bind-address=127.0.0.1:0',
      '--log-level=info',
    ]);
    const operator = startProcess(
      run.command,
      run.args,
      path.join(os.tmpdir(), `bench-operator-${process.pid}.log`),
      { ...process.env, ...IMAGE_ENV },
    );
    stopOperator = () => operator.stop();
    const pid = operator.child.pid!;
    // Serving its metrics: started (its caches filled) on a loaded machine.
    await until(
      'the operator to serve /metrics',
      async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`).catch(() => undefined))?.ok,
      120_000,
    ).catch(() => {
      throw new Error(`the operator did not start within 2 minutes; its log:\n${operator.tail()}`);
    });
    /** Where the memory is now, from the operator's own /metrics (prom-client's default metrics). */
    const breakdown = async () => {
      try {
        const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
        const value = (name: string) =>
          Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
        return `heap used ${mib(value('nodejs_heap_size_used_bytes'))} of ${mib(value('nodejs_heap_size_total_bytes'))}, external ${mib(value('nodejs_external_memory_bytes'))}`;
      } catch (err) {
        return `(no /metrics: ${(err as Error).message})`;
      }
    };
    rows.push(['started, nothing to do', mib(memoryOf(pid).rss), '', '', '', await breakdown()]);

    const peaks: number[] = [];
    let made = 0;
    for (const [phase, count] of options.transfers.entries()) {
      const vms = Array.from({ length: count }, (_, i) => `p${phase}-vm-${String(i).padStart(2, '0')}`);
      // Four at a time: sixteen disks written at once on a busy machine outlast the harness's wait.
      for (let i = 0; i < vms.length; i += 4)
        await Promise.all(
          vms
            .slice(i, i + 4)
            .map((vm) => createVm(client, ns, vm, { disks: [{ volume: 'rootdisk', size: options.disk }] })),
        );
      console.error(`bench:operator: ${count} ServerImages of ${mib(options.disk)} at once`);
      const logOffset = readFileSync(operator.logFile, 'utf8').length;
      const memory = sampler(pid);
      const pods = transferPodsCpu(client, ns);
      const cpuBefore = cpuSecondsOf(pid);
      const started = performance.now();
      await Promise.all(
        vms.map((vm) => createServerImage(client, serverImage(ns, `${vm}-image`, vm, registry!))),
      );
      made += count;
      await allActive(client, ns, made, 60 * 60_000);
      const seconds = (performance.now() - started) / 1000;
      const operatorCpu = cpuSecondsOf(pid) - cpuBefore;
      const peak = memory.stop();
      const podsCpu = await pods.stop();
      peaks.push(peak);
      const ended = endedPods(operator.logFile, logOffset);
      const podPeak = Math.max(0, ...ended.map((e) => e.peakRssBytes ?? 0));
      const left = await leftBehind(client, ns, registry);
      const share = podsCpu.seconds > 0 ? operatorCpu / podsCpu.seconds : Infinity;
      rows.push([
        `${count} at once, ${mib(options.disk)} disks`,
        `peak ${mib(peak)}`,
        `${operatorCpu.toFixed(1)} s`,
        `${podsCpu.seconds.toFixed(1)} s (${podsCpu.containers} containers${podsCpu.withoutCgroup ? `, ${podsCpu.withoutCgroup} cgroups not found` : ''}); operator ${(share * 100).toFixed(1)}%`,
        `${mib(podPeak)} (${ended.length} results)`,
        `${seconds.toFixed(0)} s, ${((count * options.disk) / MiB / seconds).toFixed(1)} MiB/s in all; left: ${left || 'nothing'}`,
      ]);
      targets.push(
        `target operator RSS with ${count} transfers: ${mib(peak)} (at most 150 MiB) ${peak <= 150 * MiB ? 'met' : 'MISSED'}`,
        `target operator CPU with ${count} transfers: ${(share * 100).toFixed(1)}% of the transfer Pods' (at most 5%) ${share <= 0.05 ? 'met' : 'MISSED'}`,
        `target ${count} ServerImages of ${mib(options.disk)} all Active, nothing left: ${left || 'nothing left'} ${left ? 'MISSED' : 'met'}`,
      );
    }
    const spread = Math.max(...peaks) - Math.min(...peaks);
    rows.push([
      'after all',
      mib(memoryOf(pid).rss),
      '',
      '',
      '',
      `VmHWM (peak of the whole run) ${mib(memoryOf(pid).hwm)}; ${await breakdown()}`,
    ]);
    printTable(rows, loadAtStart);
    console.log(
      `operator peak RSS across ${options.transfers.join('/')} transfers: ${peaks.map(mib).join(', ')} (spread ${mib(spread)})`,
    );
    for (const line of targets) console.log(line);
  } finally {
    await stopOperator?.();
    await registry?.stop();
    await sim.stop();
  }
}

/**
 * What the ServerImages left: transfer Pods, Secrets of ours, open upload sessions (empty when
 * nothing). Waits a little for Pods, which the operator deletes after it read their results.
 */
async function leftBehind(client: SimTestClient, ns: string, registry: TestRegistry): Promise<string> {
  const pods = async () =>
    (await client.core.listNamespacedPod({ namespace: ns, labelSelector: TRANSFER_PODS })).items.length;
  const secrets = async () =>
    (await client.core.listNamespacedSecret({ namespace: ns, labelSelector: OURS })).items.length;
  await until(
    'transfer Pods and Secrets of ours gone',
    async () => (await pods()) + (await secrets()) === 0,
    60_000,
  ).catch(() => undefined);
  const left = [
    [await pods(), 'transfer Pods'],
    [await secrets(), 'Secrets'],
    [registry.openUploads().length, 'upload sessions'],
  ] as const;
  return left
    .filter(([n]) => n > 0)
    .map(([n, what]) => `${n} ${what}`)
    .join(', ');
}

/** Waits until `count` ServerImages of the namespace are Active; fails on the first in Error. */
async function allActive(client: SimTestClient, ns: string, count: number, timeoutMs: number) {
  await until(
    `${count} ServerImages Active`,
    async () => {
      const list = (await client.custom.listNamespacedCustomObject({ ...SERVERIMAGE, namespace: ns })) as {
        items: { metadata: { name: string }; status?: { phase?: string; conditions?: unknown } }[];
      };
      const failed = list.items.find((si) => si.status?.phase === 'Error');
      if (failed)
        throw new Error(`${failed.metadata.name} is in Error: ${JSON.stringify(failed.status?.conditions)}`);
      return list.items.filter((si) => si.status?.phase === 'Active').length >= count;
    },
    timeoutMs,
  );
}

const mib = (bytes: number) => `${Math.round(bytes / MiB)} MiB`;

function printTable(rows: string[][], loadAtStart: number[]) {
  console.log(
    `\nmachine: ${os.availableParallelism()} x ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}, operator: dist/ (npm run build), node ${IMAGE_NODE_FLAGS.join(' ')}, ${Object.entries(
      IMAGE_ENV,
    )
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}; ` +
      `load average (1/5/15 min) at start ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}, at end ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
  const lines = [
    ['phase', 'operator RSS', 'operator CPU', 'transfer Pods CPU', 'transfer Pod peak RSS', 'notes'],
    ['---', '---', '---', '---', '---', '---'],
    ...rows,
  ];
  console.log(lines.map((cells) => `| ${cells.join(' | ')} |`).join('\n'));
}

await main();
