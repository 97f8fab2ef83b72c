// OCI 1.1 referrers: artifacts attached to a manifest through their `subject`. A registry
// that implements the referrers API indexes them itself (it answers the PUT with an
// OCI-Subject header); for one that does not (Distribution 404s), the distribution spec's
// tag schema keeps the list: an image index under the tag `sha256-<hex>` of the subject.
// Reading tries the API first, then the tag.
import type { RegistryClient } from './client.js';
import { isRegistryError } from './errors.js';

export const INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';

export interface ReferrerDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

interface ImageIndex {
  schemaVersion: 2;
  mediaType: typeof INDEX_MEDIA_TYPE;
  manifests: ReferrerDescriptor[];
}

/** `sha256:abc...` -> `sha256-abc...` (the distribution spec's referrers tag schema). */
export function referrersTag(subjectDigest: string): string {
  return subjectDigest.replace(':', '-');
}

function parseIndex(body: Buffer): ImageIndex {
  const parsed = JSON.parse(body.toString('utf8')) as Partial<ImageIndex>;
  return {
    schemaVersion: 2,
    mediaType: INDEX_MEDIA_TYPE,
    manifests: Array.isArray(parsed.manifests) ? parsed.manifests : [],
  };
}

/** The index under the referrers tag, or an empty one when the tag does not exist. */
async function tagIndex(client: RegistryClient, subjectDigest: string): Promise<ImageIndex> {
  try {
    return parseIndex((await client.getManifest(referrersTag(subjectDigest))).body);
  } catch (err) {
    if (isRegistryError(err) && err.reason === 'RegistryNotFound') {
      return { schemaVersion: 2, mediaType: INDEX_MEDIA_TYPE, manifests: [] };
    }
    throw err;
  }
}

/**
 * Pushes `manifest` (which names `subjectDigest` as its subject) by digest and, unless the
 * registry indexed it, adds it to the referrers tag. Idempotent: a descriptor already
 * listed is not added twice, so a restarted push leaves the same index.
 */
export async function pushReferrer(
  client: RegistryClient,
  subjectDigest: string,
  manifest: Buffer,
  descriptor: ReferrerDescriptor,
): Promise<{ digest: string; via: 'referrers-api' | 'tag-schema' }> {
  const put = await client.putManifestWithSubject(descriptor.digest, manifest, descriptor.mediaType);
  if (put.subjectIndexed) return { digest: put.digest, via: 'referrers-api' };
  const index = await tagIndex(client, subjectDigest);
  if (!index.manifests.some((m) => m.digest === descriptor.digest)) {
    index.manifests.push(descriptor);
    await client.putManifest(referrersTag(subjectDigest), index, INDEX_MEDIA_TYPE);
  }
  return { digest: put.digest, via: 'tag-schema' };
}

/** The referrers of `subjectDigest` with `artifactType`: the API's answer, else the tag's. */
export async function listReferrers(
  client: RegistryClient,
  subjectDigest: string,
  artifactType: string,
): Promise<ReferrerDescriptor[]> {
  const fromApi = await client.referrersIndex(subjectDigest, artifactType);
  const index = fromApi ? parseIndex(fromApi) : await tagIndex(client, subjectDigest);
  return index.manifests.filter((m) => m.artifactType === artifactType);
}

/**
 * Removes a referrer from the tag schema's index (the index goes when it lists nothing
 * more) and deletes the referrer's manifest. Absent ones are not an error: a retried
 * delete finishes what an earlier one began.
 */
export async function deleteReferrer(
  client: RegistryClient,
  subjectDigest: string,
  referrerDigest: string,
): Promise<void> {
  const index = await tagIndex(client, subjectDigest);
  const kept = index.manifests.filter((m) => m.digest !== referrerDigest);
  if (kept.length !== index.manifests.length) {
    if (kept.length > 0) {
      await client.putManifest(referrersTag(subjectDigest), { ...index, manifests: kept }, INDEX_MEDIA_TYPE);
    } else {
      const stored = await client.getManifest(referrersTag(subjectDigest));
      await ignoreNotFound(client.deleteManifest(stored.digest));
    }
  }
  await ignoreNotFound(client.deleteManifest(referrerDigest));
}

async function ignoreNotFound(operation: Promise<void>): Promise<void> {
  try {
    await operation;
  } catch (err) {
    if (!(isRegistryError(err) && err.reason === 'RegistryNotFound')) throw err;
  }
}
