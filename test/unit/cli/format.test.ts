import type { CoreV1Event } from '@kubernetes/client-node';
import { imagesTable } from '../../../src/cli/commands/outcome.js';
import { listRows } from '../../../src/cli/commands/list.js';
import { describeServerImage } from '../../../src/cli/format/describe.js';
import { formatObject } from '../../../src/cli/format/output.js';
import { formatTable } from '../../../src/cli/format/table.js';
import { parse } from 'yaml';
import { MiB, activeImage, savingImage, storedImage } from './fixtures.js';

const now = new Date('2026-11-27T03:02:00Z');

test('tables: padded columns, three spaces apart, nothing trailing', () => {
  expect(
    formatTable(
      ['NAME', 'PHASE'],
      [
        ['a', 'Active'],
        ['longer-name', ''],
      ],
      '  ',
    ),
  ).toBe('  NAME          PHASE\n  a             Active\n  longer-name\n');
});

test('list rows, narrow and wide, one namespace and all', () => {
  const items = [
    activeImage(),
    { ...savingImage(16 * MiB), metadata: { ...storedImage().metadata, name: 'b' } },
  ];
  expect(listRows(items, false, false, now)).toEqual({
    headers: ['NAME', 'SERVER', 'SCHEDULE', 'PHASE', 'PROGRESS', 'IMAGE', 'AGE'],
    rows: [
      ['web-01-nightly', 'web-01', '-', 'Active', '100%', 'reg.example.com/vms/web-01:web-01-nightly', '2m'],
      ['b', 'web-01', '-', 'Saving', '25%', '-', '2m'],
    ],
  });
  const wide = listRows(items, true, true, now);
  expect(wide.headers).toEqual([
    'NAMESPACE',
    'NAME',
    'SERVER',
    'SCHEDULE',
    'PHASE',
    'PROGRESS',
    'REASON',
    'IMAGE',
    'AGE',
    'DIGEST',
  ]);
  expect(wide.rows[0]).toEqual([
    'prod',
    'web-01-nightly',
    'web-01',
    '-',
    'Active',
    '100%',
    'Active',
    'reg.example.com/vms/web-01:web-01-nightly',
    '2m',
    `sha256:${'a'.repeat(64)}`,
  ]);
});

test('images table', () => {
  expect(imagesTable(activeImage())).toBe(
    'VOLUME     REFERENCE                                   DIGEST                                                                    SIZE       FORMAT\n' +
      `rootdisk   reg.example.com/vms/web-01:web-01-nightly   sha256:${'a'.repeat(64)}   25.0 MiB   raw\n`,
  );
});

test('describe: request, state, conditions, images, snapshot indications, recent events oldest first', () => {
  const event = (reason: string, at: string, count = 1): CoreV1Event => ({
    metadata: {},
    involvedObject: { kind: 'ServerImage', name: 'web-01-nightly', uid: 'u-1' },
    type: 'Normal',
    reason,
    message: `${reason} happened`,
    lastTimestamp: new Date(at),
    count,
    source: { component: 'serverimage-operator' },
  });
  const text = describeServerImage(
    activeImage(),
    [event('Active', '2026-11-27T03:01:31Z'), event('Saving', '2026-11-27T03:00:01Z', 3)],
    now,
  );
  const lines = text.split('\n');
  expect(lines).toEqual(
    expect.arrayContaining([
      'Name:           web-01-nightly',
      'Server:         web-01',
      'Tag:            web-01-nightly (default)',
      'Credentials:    <anonymous>',
      'Phase:          Active',
      'Progress:       64.0/64.0 MiB (100%)',
      'Server state:   Running at request, restored: true',
      'Snapshot:       web-01-nightly-1a2b3c4d (Online, GuestAgent)',
      'Conditions:',
      '  TYPE          STATUS   REASON      AGE   MESSAGE',
      '  Ready         True     Active      90s   Image reg.example.com/vms/web-01:web-01-nightly is active',
      'Images:',
      'Events:',
      '  TYPE     REASON   AGE         FROM                   MESSAGE',
      '  Normal   Saving   119s (x3)   serverimage-operator   Saving happened',
      '  Normal   Active   29s         serverimage-operator   Active happened',
    ]),
  );
  expect(lines.indexOf('Images:')).toBeGreaterThan(lines.indexOf('Conditions:'));
});

test('describe of a fresh object', () => {
  const text = describeServerImage(storedImage(undefined, { metadata: { os_distro: 'fedora' } }), [], now);
  expect(text).toContain('Phase:          <not yet seen by the operator>');
  expect(text).toContain('Properties:     os_distro=fedora');
  expect(text).toContain('Conditions:     <none>');
  expect(text).toContain('Events:         <none>');
});

test('-o json and -o yaml give the same object back', () => {
  const image = activeImage();
  expect(JSON.parse(formatObject(image, 'json'))).toEqual(image);
  expect(parse(formatObject(image, 'yaml'))).toEqual(image);
});

test('backups of a VM: newest first by due time (else creation), with schedule and backup type', async () => {
  const { backupRows, backupsOfVm } = await import('../../../src/cli/commands/backups.js');
  const scheduled = (name: string, due: string) => ({
    ...activeImage(),
    metadata: {
      ...activeImage().metadata,
      name,
      labels: { 'serverimage.io/schedule': 'nightly', 'serverimage.io/backup-type': 'daily' },
      annotations: { 'serverimage.io/scheduled-time': due },
    },
  });
  const byHand = { ...activeImage(), metadata: { ...activeImage().metadata, name: 'by-hand' } };
  const other = { ...activeImage(), spec: { ...activeImage().spec, serverRef: { name: 'db-01' } } };
  const items = [
    scheduled('old', '2026-11-25T02:30:00Z'),
    byHand,
    scheduled('new', '2026-11-27T02:30:00Z'),
    other,
  ];
  const sorted = backupsOfVm(items, 'web-01');
  // by-hand was created 2026-11-27T03:00Z, after the due time of `new`.
  expect(sorted.map((i) => i.metadata.name)).toEqual(['by-hand', 'new', 'old']);
  const { headers, rows } = backupRows(sorted, now);
  expect(headers).toEqual(['NAME', 'SCHEDULE', 'BACKUP-TYPE', 'PHASE', 'VERIFIED', 'TIME', 'IMAGE', 'AGE']);
  expect(rows.find((r) => r[0] === 'new')!.slice(1, 6)).toEqual([
    'nightly',
    'daily',
    'Active',
    '-',
    '2026-11-27T02:30:00Z',
  ]);
  expect(rows.find((r) => r[0] === 'by-hand')!.slice(1, 3)).toEqual(['-', '-']);
});

test('describe of an incremental backup: new and reused bytes per volume', () => {
  const active = activeImage();
  const image = active.status!.images![0]!;
  const status = {
    ...active.status!,
    images: [
      {
        ...image,
        chunked: {
          chunkSize: 4 * MiB,
          chunks: 16,
          zeroChunks: 5,
          newChunks: 2,
          reusedChunks: 9,
          newBytes: 3 * MiB,
          reusedBytes: 20 * MiB,
          diskSha256: `sha256:${'b'.repeat(64)}`,
        },
      },
    ],
  };
  const lines = describeServerImage({ ...active, status }, [], now).split('\n');
  expect(lines).toEqual(
    expect.arrayContaining([
      'Incremental:',
      '  VOLUME     NEW                  REUSED                ZERO CHUNKS   CHUNK SIZE',
      '  rootdisk   3.0 MiB (2 chunks)   20.0 MiB (9 chunks)   5             4.0 MiB',
    ]),
  );
  expect(describeServerImage(active, [], now)).not.toContain('Incremental:');
});

test('describe and backups show the boot verification', async () => {
  const { backupRows } = await import('../../../src/cli/commands/backups.js');
  const active = activeImage();
  const verified = {
    ...active,
    spec: { ...active.spec, verify: { boot: { timeout: '5m', check: 'GuestAgent' as const } } },
    status: {
      ...active.status,
      verification: {
        result: 'Verified' as const,
        startTime: '2026-11-27T02:40:00Z',
        completionTime: '2026-11-27T02:41:00Z',
        message: 'Booted: the guest agent connected after 1m',
      },
    },
  };
  expect(describeServerImage(verified, [], now)).toMatch(
    /^Verification: {3}Verified at 2026-11-27T02:41:00Z \(.+ ago\): Booted: the guest agent connected after 1m$/m,
  );
  expect(describeServerImage(active, [], now)).not.toContain('Verification:');
  // Waiting for a verification slot (--max-concurrent-verifications): the condition's words.
  const message = 'Waiting for a free verification slot (2 at once) before booting the image';
  const waiting = {
    ...active,
    spec: verified.spec,
    status: {
      ...active.status,
      conditions: [
        ...(active.status?.conditions ?? []),
        {
          type: 'Verified',
          status: 'Unknown' as const,
          reason: 'WaitingForVerificationSlot',
          message,
          lastTransitionTime: '2026-11-27T02:40:00Z',
        },
      ],
    },
  };
  expect(describeServerImage(waiting, [], now)).toContain(
    `Verification:   boot (check GuestAgent, timeout 5m): ${message}`,
  );
  expect(backupRows([verified, waiting, active], now).rows.map((r) => r[4])).toEqual([
    'Verified',
    'Waiting',
    '-',
  ]);
});
