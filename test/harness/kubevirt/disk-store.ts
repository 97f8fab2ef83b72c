// Where simulated volumes keep their bytes: one file per PVC and per VolumeSnapshot,
// named by the object's UID so a deleted-and-recreated object never sees old bytes.
// A VolumeSnapshot is a hard link to the PVC's file at that moment: every writer in
// the simulator replaces a disk file by rename (disks.ts), never in place, so the
// link keeps the old bytes - a frozen copy in O(1), like a CoW storage snapshot.
import { copyFile, link, mkdir, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';

export class DiskStore {
  constructor(readonly dataDir: string) {}

  pvcFile(namespace: string, name: string, uid: string): string {
    return path.join(this.dataDir, 'pvcs', namespace, `${name}.${uid}.img`);
  }

  volumeSnapshotFile(namespace: string, name: string, uid: string): string {
    return path.join(this.dataDir, 'volumesnapshots', namespace, `${name}.${uid}.img`);
  }

  async prepare(file: string): Promise<void> {
    await mkdir(path.dirname(file), { recursive: true });
  }

  /** A frozen copy of `from` at `to` (hard link; a copy across file systems). */
  async freeze(from: string, to: string): Promise<void> {
    await this.prepare(to);
    await rm(to, { force: true });
    try {
      await link(from, to);
    } catch {
      await copyFile(from, to);
    }
  }

  /** An all-zero (sparse) disk of `size` bytes. */
  async zeros(file: string, size: number): Promise<void> {
    await this.prepare(file);
    await writeFile(file, '');
    await truncate(file, size);
  }

  async remove(file: string): Promise<void> {
    await rm(file, { force: true });
  }

  /**
   * Removes every file of an object UID in a folder (used when the object is gone), and the
   * folder a local PV made of it (real/csi-volumes.ts).
   */
  async removeByUid(kind: 'pvcs' | 'volumesnapshots', namespace: string, uid: string): Promise<void> {
    const dir = path.join(this.dataDir, kind, namespace);
    const names = await readdir(dir).catch(() => [] as string[]);
    await Promise.all(
      names
        .filter((n) => n.includes(`.${uid}.img`))
        .map((n) => rm(path.join(dir, n), { force: true, recursive: true })),
    );
  }
}
