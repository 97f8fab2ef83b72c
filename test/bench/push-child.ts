// The work of one `ours` row of the benchmark, in its own process so that its
// peak RSS is its own: pushDiskImage from the export into the registry.
// Arguments: one JSON object (see PushChildInput). Prints the result as JSON.
import { RegistryClient } from '../../src/registry/index.js';
import { pushDiskImage } from '../../src/export/index.js';
import type { Compression, DiskFormat } from '../../src/export/index.js';
import { samplePeakMemory } from './peak-memory.js';
import { processIo } from './process-io.js';

export interface PushChildInput {
  url: string;
  caPem: string;
  token: string;
  repository: string;
  tag: string;
  compression: Compression;
  diskFormat: DiskFormat;
}

const input = JSON.parse(process.argv[2]!) as PushChildInput;
const memoryAtPeak = samplePeakMemory();
// Built as the operator builds its client (registry-access.ts): pushDiskImage
// picks the upload chunk size itself.
const registry = new RegistryClient({ repository: input.repository, insecure: true });
const result = await pushDiskImage({
  source: { url: input.url, caPem: input.caPem, token: input.token },
  registry,
  tag: input.tag,
  imageName: `bench ${input.tag}`,
  compression: input.compression,
  diskFormat: input.diskFormat,
  // While tuning only (the operator uses the defaults): BENCH_COMPRESSION_LEVEL=1.
  compressionLevel: process.env.BENCH_COMPRESSION_LEVEL
    ? Number(process.env.BENCH_COMPRESSION_LEVEL)
    : undefined,
});
process.stdout.write(JSON.stringify({ ...result, memoryAtPeak: memoryAtPeak(), io: processIo() }) + '\n');
