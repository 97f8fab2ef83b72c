// One chunked backup of the incremental bench, in its own process so that its peak RSS
// is its own: the export's raw disk -> pushChunkedDisk, with the earlier days' tags as
// the dedup index, as a schedule's backup would have it. Arguments: one JSON object
// (ChunkedPushChildInput). Prints the result as JSON, with the process's I/O counters.
import { openExportSource } from '../../src/export/index.js';
import { pushChunkedDisk } from '../../src/export/chunked/index.js';
import { RegistryClient } from '../../src/registry/index.js';
import { samplePeakMemory } from './peak-memory.js';
import { processIo } from './process-io.js';

export interface ChunkedPushChildInput {
  url: string;
  caPem: string;
  token: string;
  repository: string;
  tag: string;
  /** Tags of the earlier backups in the repository (newest first). */
  previous: string[];
  chunkSize?: number;
}

const input = JSON.parse(process.argv[2]!) as ChunkedPushChildInput;
const memoryAtPeak = samplePeakMemory();
const registry = new RegistryClient({ repository: input.repository, insecure: true });
const disk = await openExportSource({ url: input.url, caPem: input.caPem, token: input.token });
const result = await pushChunkedDisk({
  disk,
  registry,
  tag: input.tag,
  imageName: `bench ${input.tag}`,
  previous: input.previous,
  chunkSize: input.chunkSize,
});
process.stdout.write(JSON.stringify({ ...result, memoryAtPeak: memoryAtPeak(), io: processIo() }) + '\n');
