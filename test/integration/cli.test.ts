// The serverimage CLI end to end, as a child process, on the real bed: control plane,
// KubeVirt's real virt-controller (its snapshots, with the guest agent's freeze, and
// exports; the node's part simulated), Distribution registry and the in-process operator.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Crane } from '../harness/crane.js';
import { Ann } from '../harness/kubevirt/annotations.js';
import { type SimTestClient, until } from '../harness/kubevirt/testing.js';
import type { TestRegistry } from '../harness/registry.js';
import { createNamespace, kubectl, kubeconfigPath } from '../harness/testbed.js';
import { cli, kubeconfigWithNamespace, root } from './cli-fixtures.js';
import { expectStatusByVirtController, recordManagers } from './field-managers.js';
import {
  SERVERIMAGE,
  createVm,
  serverImage,
  startServerImageBed,
  waitForPhase,
  type ServerImageBed,
} from './serverimage-fixtures.js';

let bed: ServerImageBed;
let registry: TestRegistry;
let crane: Crane;
let client: SimTestClient;
let ns: string;
let repository: string;
let recorder: ReturnType<typeof recordManagers> | undefined;

const MiB = 2 ** 20;

beforeAll(async () => {
  bed = await startServerImageBed([]);
  ({ registry, crane, client } = bed);
  ns = await createNamespace('cli');
  recorder = recordManagers(ns);
  await recorder.start();
  repository = `${registry.host}/vms/{vm}`;
  // Paced so that the transfer spans several progress reports (200 ms apart in tests).
  await createVm(client, ns, 'web-01', {
    agent: true,
    disks: [{ volume: 'rootdisk', size: 4 * MiB }],
    annotations: { [Ann.faultBytesPerSecond]: String(2 * MiB) },
  });
}, 180_000); // the real-controller bed starts in 12-25 s, more on a loaded machine

afterAll(async () => {
  if (recorder) {
    await recorder.stop();
    // Every snapshot and export of the file: their status was virt-controller's alone.
    expectStatusByVirtController(recorder);
  }
  await bed?.stop();
  crane?.cleanup();
});

const purgedCondition = async (name: string) =>
  ((await client.get(SERVERIMAGE, ns, name))?.status?.conditions ?? []).find(
    (c: { type: string }) => c.type === 'Purged',
  ) as { status: string; message: string } | undefined;

const create = (vm: string, ...flags: string[]) =>
  cli(['create', vm, '-n', ns, '--repository', repository, '--insecure', ...flags]);

describe('create --wait', () => {
  test('reaches Active, exits 0, shows progress lines and the pushed reference and digest', async () => {
    const result = await create(
      'web-01',
      '--name',
      'web-01-first',
      '--property',
      'os_distro=fedora',
      '--wait',
    );
    expect(result).toEqual(expect.objectContaining({ code: 0, stderr: '' }));
    const ref = `${registry.host}/vms/web-01:web-01-first`;
    const lines = result.stdout.split('\n');
    expect(lines[0]).toBe(
      `serverimage.serverimage.io/web-01-first created in namespace ${ns}; waiting up to 2h00m for Active`,
    );
    // Not a terminal: one plain line per change, through the steps, with bytes, rate and ETA.
    expect(result.stdout).not.toContain('\x1b[');
    expect(lines.some((l) => /^\[\+\d+s\] Saving .*SnapshotInProgress: /.test(l))).toBe(true);
    expect(lines.some((l) => /^\[\+\d+s\] Saving +\d+% \d+\.\d\/4\.0 MiB \S+ \S+\/s ETA \d+s/.test(l))).toBe(
      true,
    );
    expect(lines.some((l) => /^\[\+\d+s\] Active 100% 4\.0\/4\.0 MiB - Active: /.test(l))).toBe(true);
    expect(result.stdout).toContain(`ServerImage ${ns}/web-01-first is Active`);
    const digest = await crane.digest(ref);
    expect(result.stdout).toMatch(
      new RegExp(`rootdisk +${ref.replace(/\./g, '\\.')} +${digest} +[\\d.]+ (KiB|MiB) +raw`),
    );
    expect(result.stdout).toContain('Snapshot: ');
    expect(result.stdout).toContain('GuestAgent');
  });

  test('a name is generated from the VM and the UTC time, and SERVERIMAGE_REPOSITORY is the default', async () => {
    const result = await cli(['create', 'web-01', '-n', ns, '--insecure', '-o', 'json'], {
      SERVERIMAGE_REPOSITORY: repository,
    });
    expect(result.code).toBe(0);
    const created = JSON.parse(result.stdout);
    expect(created.metadata.name).toMatch(/^web-01-\d{8}-\d{6}$/);
    expect(created.spec.registry).toEqual({
      repository: `${registry.host}/vms/web-01`,
      insecure: true,
    });
    // The API server's defaults are in what it returned.
    expect(created.spec.deletionPolicy).toBe('Retain');
    await waitForPhase(client, ns, created.metadata.name, 'Active');
  });

  test('-o json with --wait prints the final object on stdout, progress on stderr', async () => {
    const result = await create('web-01', '--name', 'web-01-json', '--wait', '-o', 'json');
    expect(result.code).toBe(0);
    const image = JSON.parse(result.stdout);
    expect(image.status.phase).toBe('Active');
    expect(image.status.images[0].reference).toBe(`${registry.host}/vms/web-01:web-01-json`);
    expect(result.stderr).toContain('Active: ');
  });

  test('an Error image exits 1 with the reason and message', async () => {
    const result = await create('no-such-vm', '--name', 'missing-vm', '--wait');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(`^error: ServerImage ${ns}/missing-vm failed: ServerNotFound: .*no-such-vm`, 'm'),
    );
    expect(result.stdout).toContain('WaitingForServer');
    // Nothing had been made for it (no VM, no snapshot): Purged says only that (the purge
    // is the reconcile after Error, so it may land a moment after the wait ended).
    await until('the purge recorded', async () => (await purgedCondition('missing-vm'))?.status === 'True');
    expect(await purgedCondition('missing-vm')).toEqual(
      expect.objectContaining({ status: 'True', message: 'Nothing had been made; nothing to remove' }),
    );
  });

  test('wait on an image already in Error says the error once, on stderr, without "waiting up to"', async () => {
    const result = await cli(['wait', 'missing-vm', '-n', ns]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      new RegExp(`^error: ServerImage ${ns}/missing-vm failed: ServerNotFound: [^\\n]*no-such-vm[^\\n]*\\n$`),
    );
  });

  test('a wait past --timeout exits 3 and leaves the ServerImage going', async () => {
    await createVm(client, ns, 'slow', {
      disks: [{ volume: 'rootdisk', size: 4 * MiB }],
      annotations: { [Ann.faultBytesPerSecond]: String(16 * 1024) },
    });
    const result = await create('slow', '--name', 'slow-image', '--wait', '--timeout', '2s');
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(
      `error: timed out after 2s waiting for ServerImage ${ns}/slow-image to be Active`,
    );
    expect(result.stderr).toContain(`describe slow-image -n ${ns}`);
    expect((await client.get(SERVERIMAGE, ns, 'slow-image'))?.metadata.deletionTimestamp).toBeUndefined();
    const deleted = await cli(['delete', 'slow-image', '-n', ns, '--wait', '--timeout', '60s']);
    expect(deleted).toEqual(expect.objectContaining({ code: 0 }));
  });
});

describe('wait for a ServerImage made elsewhere', () => {
  // As GitOps makes it: kubectl apply of a manifest, then `wait NAME`.
  const apply = async (name: string, vm: string) => {
    const applied = await kubectl(['apply', '-f', '-'], JSON.stringify(serverImage(ns, name, vm, registry)));
    expect(applied).toEqual(expect.objectContaining({ code: 0 }));
  };

  test('follows a kubectl-applied ServerImage to Active with progress, exit 0', async () => {
    // Slower than web-01, so that the transfer is still going when the CLI has started.
    await createVm(client, ns, 'web-02', {
      disks: [{ volume: 'rootdisk', size: 4 * MiB }],
      annotations: { [Ann.faultBytesPerSecond]: String(MiB) },
    });
    await apply('web-02-applied', 'web-02');
    const result = await cli(['wait', 'web-02-applied', '-n', ns]);
    expect(result).toEqual(expect.objectContaining({ code: 0, stderr: '' }));
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(
      new RegExp(
        `^serverimage\\.serverimage\\.io/web-02-applied in namespace ${ns} is (Queued|Saving|not yet seen by the operator); waiting up to 2h00m for Active$`,
      ),
    );
    expect(lines.some((l) => /^\[\+\d+s\] Saving +\d+% \d+\.\d\/4\.0 MiB/.test(l))).toBe(true);
    expect(lines.some((l) => /^\[\+\d+s\] Active 100% 4\.0\/4\.0 MiB - Active: /.test(l))).toBe(true);
    expect(result.stdout).toContain(`ServerImage ${ns}/web-02-applied is Active`);
    expect(result.stdout).toContain(await crane.digest(`${registry.host}/vms/web-02:web-02-applied`));
  });

  test('an image already Active is reported at once; -o json prints it, the rest goes to stderr', async () => {
    const result = await cli(['wait', 'web-02-applied', '-n', ns, '-o', 'json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).status.phase).toBe('Active');
    // Nothing to wait for: the summary at once, no "waiting up to".
    expect(result.stderr).toMatch(new RegExp(`^ServerImage ${ns}/web-02-applied is Active`));
    expect(result.stderr).not.toContain('waiting up to');
  });

  test('an image that ends in Error exits 1 with the reason', async () => {
    await apply('ghost-applied', 'no-such-vm-either');
    const result = await cli(['wait', 'ghost-applied', '-n', ns]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(`^error: ServerImage ${ns}/ghost-applied failed: ServerNotFound: .*no-such-vm-either`, 'm'),
    );
  });

  test('a name that does not exist is the API server NotFound, exit 1', async () => {
    const result = await cli(['wait', 'nope', '-n', ns, '--timeout', '10s']);
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: 'Error from server (NotFound): serverimages.serverimage.io "nope" not found\n',
    });
  });

  test('a wait past --timeout exits 3, the image goes on', async () => {
    // Of the VM 'slow' (create --wait's timeout case above), paced to 16 KiB/s: its image
    // cannot end within the wait however long the CLI takes to start. An image of a missing
    // VM ends in Error after the operator's --server-wait-timeout (4s), which a CLI starting
    // slowly on a loaded machine outwaited (exit 1).
    await apply('slow-timeout', 'slow');
    const result = await cli(['wait', 'slow-timeout', '-n', ns, '--timeout', '1s']);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(
      `error: timed out after 1s waiting for ServerImage ${ns}/slow-timeout to be Active: still`,
    );
    expect((await client.get(SERVERIMAGE, ns, 'slow-timeout'))?.metadata.deletionTimestamp).toBeUndefined();
    const deleted = await cli(['delete', 'slow-timeout', '-n', ns, '--wait', '--timeout', '60s']);
    expect(deleted).toEqual(expect.objectContaining({ code: 0 }));
  });
});

describe('the API server judges the request', () => {
  test.each([
    ['a property key with a slash', ['--property', 'bad/key=v'], 'spec.metadata', 'metadata keys must be'],
    [
      'a repository without a registry host',
      ['--repository', 'just-a-name'],
      'spec.registry.repository',
      'should match',
    ],
    [
      'an unknown deletion policy',
      ['--deletion-policy', 'Sometimes'],
      'spec.deletionPolicy',
      'Unsupported value',
    ],
  ])('%s: its message naming the field, exit 1, nothing created', async (_what, flags, field, words) => {
    const name = `bad-${Math.random().toString(36).slice(2, 8)}`;
    const result = await cli([
      'create',
      'web-01',
      '-n',
      ns,
      '--name',
      name,
      '--repository',
      repository,
      ...flags,
      '--wait',
    ]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      /^Error from server \(Invalid\): ServerImage\.serverimage\.io ".*" is invalid: /,
    );
    expect(result.stderr).toContain(field);
    expect(result.stderr).toContain(words);
    expect(await client.get(SERVERIMAGE, ns, name)).toBeUndefined();
  });

  test('a name the API server refuses', async () => {
    const result = await create('web-01', '--name', 'Not_A_Name');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('metadata.name');
  });

  test('a usage error exits 2 before any request', async () => {
    const result = await cli(['create', 'web-01', '-n', ns]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('create needs --repository REPO');
  });
});

describe('list, describe, delete', () => {
  beforeAll(async () => {
    await waitForPhase(client, ns, 'web-01-first', 'Active');
  });

  test('list: a table of this namespace; -o wide; -A adds the namespace', async () => {
    const table = await cli(['list', '-n', ns]);
    expect(table.code).toBe(0);
    const [header, ...rows] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^NAME +SERVER +SCHEDULE +PHASE +PROGRESS +IMAGE +AGE$/);
    expect(rows).toContainEqual(
      expect.stringMatching(
        new RegExp(`^web-01-first +web-01 +- +Active +100% +${registry.host}/vms/web-01:web-01-first +\\d+`),
      ),
    );
    expect(rows).toContainEqual(expect.stringMatching(/^missing-vm +no-such-vm +- +Error +- +- +\d+/));

    const wide = await cli(['list', '-n', ns, '-o', 'wide']);
    expect(wide.stdout.split('\n')[0]).toMatch(
      /^NAME +SERVER +SCHEDULE +PHASE +PROGRESS +REASON +IMAGE +AGE +DIGEST$/,
    );
    expect(wide.stdout).toMatch(/missing-vm +no-such-vm +- +Error +- +ServerNotFound/);

    const all = await cli(['list', '-A']);
    expect(all.stdout.split('\n')[0]).toMatch(/^NAMESPACE +NAME +SERVER/);
    expect(all.stdout).toMatch(new RegExp(`^${ns} +web-01-first +web-01 +- +Active`, 'm'));
  });

  test('list -o json and -o yaml parse and hold the objects', async () => {
    const json = await cli(['list', '-n', ns, '-o', 'json']);
    expect(json.code).toBe(0);
    const list = JSON.parse(json.stdout);
    expect(list.kind).toBe('ServerImageList');
    const first = list.items.find((i: { metadata: { name: string } }) => i.metadata.name === 'web-01-first');
    expect(first.status.phase).toBe('Active');
    const yaml = await cli(['list', '-n', ns, '-o', 'yaml']);
    const { parse } = await import('yaml');
    expect(parse(yaml.stdout).items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(
      list.items.map((i: { metadata: { name: string } }) => i.metadata.name),
    );
  });

  test('the namespace comes from the context when -n is not given; KUBECONFIG is read', async () => {
    const result = await cli(['list', '-o', 'json'], { KUBECONFIG: kubeconfigWithNamespace(ns) });
    expect(result.code).toBe(0);
    expect(
      JSON.parse(result.stdout).items.map((i: { metadata: { namespace: string } }) => i.metadata.namespace),
    ).toContain(ns);
    const empty = await cli(['list', '-n', 'default']);
    expect(empty).toEqual(expect.objectContaining({ code: 0, stdout: '' }));
    expect(empty.stderr).toContain('No ServerImages found in default namespace.');
  });

  test('an unknown --context is a usage error', async () => {
    const result = await cli(['list', '--context', 'nowhere']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('context "nowhere" is not in the kubeconfig');
  });

  test('describe: phase, conditions, images, snapshot indications, events', async () => {
    const result = await cli(['describe', 'web-01-first', '-n', ns]);
    expect(result.code).toBe(0);
    const text = result.stdout;
    expect(text).toMatch(/^Phase: +Active$/m);
    expect(text).toMatch(/^Properties: +os_distro=fedora$/m);
    expect(text).toMatch(/^Snapshot: +web-01-first-\w+ \(.*GuestAgent.*\)$/m);
    expect(text).toMatch(/^Server state: +Running at request, restored: true$/m);
    expect(text).toMatch(/^ {2}Ready +True +Active +/m);
    expect(text).toMatch(/^ {2}Snapshotted +True +/m);
    expect(text).toMatch(
      new RegExp(`^ {2}rootdisk +${registry.host}/vms/web-01:web-01-first +sha256:[0-9a-f]{64} `, 'm'),
    );
    expect(text).toMatch(/^Events:\n {2}TYPE +REASON +AGE +FROM +MESSAGE\n/m);
    expect(text).toMatch(/^ {2}Normal +Active +/m);

    const failed = await cli(['describe', 'missing-vm', '-n', ns]);
    expect(failed.stdout).toMatch(/^ {2}Ready +False +ServerNotFound +/m);
    expect(failed.stdout).toMatch(/^ {2}Warning +ServerNotFound +/m);
  });

  test('describe -o yaml; describe of a missing object is the API server NotFound', async () => {
    const yaml = await cli(['describe', 'web-01-first', '-n', ns, '-o', 'yaml']);
    const { parse } = await import('yaml');
    expect(parse(yaml.stdout).status.phase).toBe('Active');
    const missing = await cli(['describe', 'nope', '-n', ns]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(
      'Error from server (NotFound): serverimages.serverimage.io "nope" not found',
    );
  });

  test('delete --wait waits until the object is gone; delete of a missing one fails', async () => {
    const result = await cli(['delete', 'web-01-first', '-n', ns, '--wait']);
    expect(result).toEqual({
      code: 0,
      stdout:
        'serverimage.serverimage.io "web-01-first" deleted\nserverimage.serverimage.io "web-01-first" is gone\n',
      stderr: '',
    });
    expect(await client.get(SERVERIMAGE, ns, 'web-01-first')).toBeUndefined();
    // Retain: the tag is still in the registry.
    expect(await crane.digest(`${registry.host}/vms/web-01:web-01-first`)).toMatch(/^sha256:/);
    const again = await cli(['delete', 'web-01-first', '-n', ns]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('(NotFound)');
  });
});

describe('on a terminal', () => {
  const hasScript = async () =>
    promisify(execFile)('script', ['--version']).then(
      () => true,
      () => false,
    );

  test('create --wait draws a progress bar in place', async () => {
    if (!(await hasScript())) {
      console.warn('skipped: util-linux `script` is not installed, no pseudo-terminal to run the CLI on');
      return;
    }
    const command = [
      `${root}/node_modules/.bin/node`,
      '--import',
      'tsx',
      `${root}/src/cli/main.ts`,
      'create',
      'web-01',
      '--name',
      'web-01-tty',
      '-n',
      ns,
      '--repository',
      `'${repository}'`,
      '--insecure',
      '--wait',
      '--kubeconfig',
      kubeconfigPath(),
    ].join(' ');
    const { stdout } = await promisify(execFile)('script', ['-qfec', command, '/dev/null'], {
      cwd: root,
      env: { ...process.env, COLUMNS: '160' },
    });
    expect(stdout).toContain('\r\x1b[2K');
    expect(stdout).toMatch(/Saving +\d+s {2}\[=*>? *\] +\d+% {2}\d+\.\d\/4\.0 MiB/);
    expect(stdout).toMatch(/Active +\d+s {2}\[={24}\] {2}100% {2}4\.0\/4\.0 MiB/);
    expect(stdout).toContain(`ServerImage ${ns}/web-01-tty is Active`);
    await kubectl(['delete', 'serverimage', '-n', ns, 'web-01-tty', '--wait=false']);
  });
});
