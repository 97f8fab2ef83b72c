// A RegistryImporter (registry-import.ts) that is CDI's own: the real cdi-importer
// (../cdi-importer.ts) pulls the DataVolume's registry source, converts it with qemu-img
// and grows it to the PVC's usable size, as an importer Pod does. Unlike craneImporter the
// PVC's file is then longer than the image's disk (zeros after it), so a PVC's disk-sha256
// is that of the grown file.
//   startKubevirtSimulator({ kubeConfig, registryImporter: cdiRegistryImporter() })
// Registries: plain HTTP (CDI's insecureRegistries) unless a CA is given; the
// DataVolume's certConfigMap and secretRef are not resolved here.
import { copyFile, rename, rm } from 'node:fs/promises';
import { importWithCdi } from '../cdi-importer.js';
import type { RegistryImporter } from './registry-import.js';

export function cdiRegistryImporter(options: { caPem?: string } = {}): RegistryImporter {
  return async (job) => {
    const run = await importWithCdi({
      reference: job.reachableUrl,
      caPem: options.caPem,
      insecure: !options.caPem,
      sizeBytes: job.sizeBytes,
    });
    try {
      // CDI's message becomes the DataVolume's Running condition, as from a failed Pod.
      if (!run.succeeded) throw new Error(run.message.trim() || `cdi-importer exited ${run.exitCode}`);
      await rename(run.diskFile, job.targetFile).catch(async () => {
        await copyFile(run.diskFile, job.targetFile);
        await rm(run.diskFile, { force: true });
      });
      job.onProgress(100);
    } finally {
      run.cleanup();
    }
  };
}
