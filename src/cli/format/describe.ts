// The describe text: what was asked, where it stands, each step's condition, what was
// pushed, how consistent the snapshot is, and the object's recent Events.
import type { CoreV1Event } from '@kubernetes/client-node';
import { ConditionType, Reason } from '../../api/serverimage-conditions.js';
import type { StoredServerImage } from '../server-image-client.js';
import { formatTable } from './table.js';
import { ageOf, formatBytePair, formatBytes, percent } from './units.js';

const RECENT_EVENTS = 20;

function field(label: string, value: string | undefined): string {
  return `${`${label}:`.padEnd(16)}${value ?? '-'}`;
}

function timeWithAge(timestamp: string | undefined, now: Date): string | undefined {
  return timestamp ? `${timestamp} (${ageOf(timestamp, now)} ago)` : undefined;
}

function eventTime(event: CoreV1Event): number {
  const at =
    event.lastTimestamp ?? event.eventTime ?? event.firstTimestamp ?? event.metadata.creationTimestamp;
  return at ? new Date(at).getTime() : 0;
}

function eventsSection(events: CoreV1Event[], now: Date): string {
  if (events.length === 0) return 'Events:         <none>\n';
  const recent = [...events].sort((a, b) => eventTime(a) - eventTime(b)).slice(-RECENT_EVENTS);
  const rows = recent.map((e) => [
    e.type ?? '',
    e.reason ?? '',
    `${ageOf(new Date(eventTime(e)), now)}${(e.count ?? 1) > 1 ? ` (x${e.count})` : ''}`,
    e.source?.component ?? e.reportingComponent ?? '',
    e.message ?? '',
  ]);
  return `Events:\n${formatTable(['TYPE', 'REASON', 'AGE', 'FROM', 'MESSAGE'], rows, '  ')}`;
}

export function describeServerImage(image: StoredServerImage, events: CoreV1Event[], now: Date): string {
  const { metadata, spec } = image;
  const status = image.status ?? {};
  const registry = spec.registry;
  const progress = status.progress;
  const properties = Object.entries(spec.metadata ?? {}).map(([k, v]) => `${k}=${v}`);
  const server = status.server;
  const lines = [
    field('Name', metadata.name),
    field('Namespace', metadata.namespace),
    field('Server', spec.serverRef.name),
    field('Image name', spec.imageName ?? metadata.name),
    field('Properties', properties.length > 0 ? properties.join(', ') : '<none>'),
    field('Repository', registry.repository),
    field('Tag', registry.tag || `${metadata.name} (default)`),
    field('Credentials', registry.credentialsSecretRef?.name ?? '<anonymous>'),
    ...(registry.caBundleSecretRef ? [field('CA bundle', registry.caBundleSecretRef.name)] : []),
    ...(registry.insecure ? [field('Insecure', 'true (plain HTTP)')] : []),
    field('Volumes', spec.volumes?.join(', ') ?? '<all snapshottable>'),
    field('Deletion', spec.deletionPolicy ?? 'Retain'),
    field('Created', timeWithAge(metadata.creationTimestamp, now)),
    ...(metadata.deletionTimestamp
      ? [field('Deleting since', timeWithAge(metadata.deletionTimestamp, now))]
      : []),
    field('Phase', status.phase ?? '<not yet seen by the operator>'),
    field(
      'Progress',
      progress
        ? `${formatBytePair(progress.bytesDone, progress.bytesTotal)} (${percent(progress.bytesDone, progress.bytesTotal)}%)`
        : undefined,
    ),
    field('Started', timeWithAge(status.startTime, now)),
    field('Completed', timeWithAge(status.completionTime, now)),
    field(
      'Server state',
      server?.statusAtRequest
        ? `${server.statusAtRequest} at request${server.restored === undefined ? '' : `, restored: ${server.restored}`}`
        : undefined,
    ),
    ...(verificationLine(spec, status, now)
      ? [field('Verification', verificationLine(spec, status, now))]
      : []),
    field(
      'Snapshot',
      status.snapshot?.name
        ? `${status.snapshot.name} (${status.snapshot.indications?.join(', ') || 'no indications'})`
        : undefined,
    ),
  ];
  const conditions = status.conditions ?? [];
  const conditionRows = conditions.map((c) => [
    c.type,
    c.status,
    c.reason,
    ageOf(c.lastTransitionTime, now),
    c.message,
  ]);
  const images = status.images ?? [];
  const imageRows = images.map((i) => [i.volume, i.reference, i.digest, formatBytes(i.size), i.diskFormat]);
  return [
    `${lines.join('\n')}\n`,
    conditions.length > 0
      ? `Conditions:\n${formatTable(['TYPE', 'STATUS', 'REASON', 'AGE', 'MESSAGE'], conditionRows, '  ')}`
      : 'Conditions:     <none>\n',
    images.length > 0
      ? `Images:\n${formatTable(['VOLUME', 'REFERENCE', 'DIGEST', 'SIZE', 'FORMAT'], imageRows, '  ')}`
      : 'Images:         <none>\n',
    incrementalSection(images),
    eventsSection(events, now),
  ].join('');
}

/** The boot verification (spec.verify.boot): its result and message, or that it waits or has not begun. */
function verificationLine(
  spec: StoredServerImage['spec'],
  status: NonNullable<StoredServerImage['status']>,
  now: Date,
): string | undefined {
  const verification = status.verification;
  if (verification) {
    const when = verification.completionTime
      ? ` at ${timeWithAge(verification.completionTime, now)}`
      : ` since ${timeWithAge(verification.startTime, now)}`;
    return `${verification.result}${when}${verification.message ? `: ${verification.message}` : ''}`;
  }
  const boot = spec.verify?.boot;
  if (!boot) return undefined;
  const condition = status.conditions?.find((c) => c.type === ConditionType.Verified);
  const state = condition?.reason === Reason.WaitingForVerificationSlot ? condition.message : 'not begun';
  return `boot (check ${boot.check}, timeout ${boot.timeout}): ${state}`;
}

/** What each volume of an incremental (chunked) backup uploaded and reused; empty for containerDisks. */
function incrementalSection(images: NonNullable<NonNullable<StoredServerImage['status']>['images']>): string {
  const rows = images.flatMap((i) =>
    i.chunked
      ? [
          [
            i.volume,
            `${formatBytes(i.chunked.newBytes)} (${i.chunked.newChunks} chunks)`,
            `${formatBytes(i.chunked.reusedBytes)} (${i.chunked.reusedChunks} chunks)`,
            String(i.chunked.zeroChunks),
            formatBytes(i.chunked.chunkSize),
          ],
        ]
      : [],
  );
  if (rows.length === 0) return '';
  return `Incremental:\n${formatTable(['VOLUME', 'NEW', 'REUSED', 'ZERO CHUNKS', 'CHUNK SIZE'], rows, '  ')}`;
}
