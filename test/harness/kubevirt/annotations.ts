// Every switch of the simulator, in one place. They are annotations so that a test,
// the demo or a person with kubectl can flip them on live objects, e.g.
//   kubectl annotate vm web-01 sim.serverimage.io/paused=true
//   kubectl annotate vm web-01 sim.serverimage.io/fault-snapshot=fail
// Fault switches are looked up on the object first, then on the VirtualMachine it
// belongs to (so a test can arm a fault on the VM before the operator creates the
// snapshot or export), see faultValue().
import type { Obj } from './api.js';

const P = 'sim.serverimage.io/';

export const Ann = {
  // ---- state switches -------------------------------------------------------
  /** VM: "true" pauses a running VM (printableStatus Paused, condition Paused/PausedByUser). */
  paused: `${P}paused`,
  /** VM: "true" = a guest agent is connected (condition AgentConnected while the VM runs). */
  guestAgent: `${P}guest-agent`,
  /**
   * VM: forces status.printableStatus to this value (e.g. Migrating, Unknown); remove to return.
   * On the real-controller bed only Migrating: the virt-handler stand-in plays a migration.
   */
  printableStatus: `${P}printable-status`,
  /** StorageClass: "true" = no VolumeSnapshotClass exists for it (volumes on it are not snapshottable). */
  noVolumeSnapshotClass: `${P}no-volume-snapshot-class`,

  // ---- disks (PVC bytes) -----------------------------------------------------
  /** PVC: size of the simulated disk ("4Mi", "2Gi", bytes). Default: spec.resources.requests.storage, all zeros. */
  diskSize: `${P}disk-size`,
  /** PVC: seed of the disk's bytes (default "<namespace>/<name>"). Changing it rewrites the disk ("the guest wrote"). */
  diskSeed: `${P}disk-seed`,
  /** PVC, written by the simulator: sha256 of the disk's bytes once they exist. */
  diskSha256: `${P}disk-sha256`,
  /** PVC, written by the simulator: the "<size>:<seed>" the current bytes were made from. */
  diskGenerated: `${P}disk-generated`,

  // ---- faults ------------------------------------------------------------------
  /** VMSnapshot or VM: "fail" -> phase Failed with an error; "hang" -> stays InProgress (until failureDeadline). */
  faultSnapshot: `${P}fault-snapshot`,
  /** VMSnapshot or VM: the error message of fault-snapshot=fail. */
  faultSnapshotMessage: `${P}fault-snapshot-message`,
  /** VMExport or VM: "never-ready" -> the export stays Pending (Ready=False, PodPending). */
  faultExport: `${P}fault-export`,
  /** VMExport or VM: the export server cuts every response's connection after N body bytes. */
  faultDropAfterBytes: `${P}fault-drop-after-bytes`,
  /** VMExport or VM: the export server sends at most N bytes per second per response. */
  faultBytesPerSecond: `${P}fault-bytes-per-second`,
  /** VMExport or VM: the next K requests for this export get an HTTP error (see fault-http-status). Remove and set again to re-arm. */
  faultHttpErrors: `${P}fault-http-errors`,
  /** VMExport or VM: the status code of fault-http-errors (default 503). */
  faultHttpStatus: `${P}fault-http-status`,
  /**
   * VM: "<when>=<what>[,<when>=<what>...]" changes the VM once, mid-way through the
   * operator's work. when: snapshot-start | snapshot-done | export-ready | export-read
   * (first body byte served). what: Stopped (runStrategy Halted), Running (Always),
   * Paused, Deleted (the VM is deleted), or any other printableStatus (forced, e.g. Migrating).
   */
  faultVmChange: `${P}fault-vm-change`,
} as const;

export type VmChangeWhen = 'snapshot-start' | 'snapshot-done' | 'export-ready' | 'export-read';

export function annotation(o: Obj | undefined, name: string): string | undefined {
  return o?.metadata.annotations?.[name];
}

export const isTrue = (o: Obj | undefined, name: string): boolean => annotation(o, name) === 'true';

/** A fault switch: on the object itself first, then on its VM. */
export function faultValue(name: string, ...objects: Array<Obj | undefined>): string | undefined {
  for (const o of objects) {
    const v = annotation(o, name);
    if (v !== undefined && v !== '') return v;
  }
  return undefined;
}

export function faultNumber(name: string, ...objects: Array<Obj | undefined>): number | undefined {
  const v = faultValue(name, ...objects);
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** The VM change armed for `when`, if any. */
export function vmChangeFor(vm: Obj | undefined, when: VmChangeWhen): string | undefined {
  const spec = annotation(vm, Ann.faultVmChange);
  if (!spec) return undefined;
  for (const part of spec.split(',')) {
    const [w, what] = part.split('=').map((s) => s.trim());
    if (w === when && what) return what;
  }
  return undefined;
}
