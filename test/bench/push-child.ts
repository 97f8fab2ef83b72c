// The work of one `ours` row of the benchmark, in its own process so that its
// peak RSS is its own: pushDiskImage from the export into the registry.
// Arguments: one JSON object (see PushChildInput). Prints the result as JSON.
import { RegistryClient } from '../../src/registry/index.js';
import { pushDiskImage } from '../../src/export/index.js';
import type { Compression } from '../../src/export/index.js';

export interface PushChildInput {
  url: string;
  caPem: string;
  token: string;
  repository: string;
  tag: string;
  compression: Compression;
}

const input = JSON.parse(process.argv[2]!) as PushChildInput;
// 4 MiB PATCHes: the client holds the chunk on the wire and the next one being
// filled, so its chunk size is a large part of the peak RSS.
const registry = new RegistryClient({
  repository: input.repository,
  insecure: true,
  chunkSize: 4 * 1024 * 1024,
});
const result = await pushDiskImage({
  source: { url: input.url, caPem: input.caPem, token: input.token },
  registry,
  tag: input.tag,
  imageName: `bench ${input.tag}`,
  compression: input.compression,
});
process.stdout.write(JSON.stringify(result) + '\n');
