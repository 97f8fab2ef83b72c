// Every switch of the bed's stand-ins, in one place. They are annotations so that a test,
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
  /** VM: "true" pauses a running VM: the virt-handler stand-in gives its VMI Paused/PausedByUser. */
  paused: `${P}paused`,
  /** VM: "true" = a guest agent is connected (condition AgentConnected while the VM runs). */
  guestAgent: `${P}guest-agent`,
  /** VM: "Migrating": the virt-handler stand-in plays a live migration until removed. */
  printableStatus: `${P}printable-status`,

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
  /**
   * VolumeSnapshotContent or VM, at the CSI sidecar stand-in: "fail" -> the content's
   * status.error (virt-controller keeps the snapshot InProgress until its failureDeadline);
   * "hang" -> cut but never readyToUse.
   */
  faultSnapshot: `${P}fault-snapshot`,
  /** VolumeSnapshotContent or VM: the error message of fault-snapshot=fail. */
  faultSnapshotMessage: `${P}fault-snapshot-message`,
  /** VMExport or VM: "never-ready" -> the exporter Pod's readiness probe never passes (the export stays Pending). */
  faultExport: `${P}fault-export`,
  /** VMExport or VM: the Service proxy cuts every connection after N bytes. */
  faultDropAfterBytes: `${P}fault-drop-after-bytes`,
  /** VMExport or VM: the Service proxy passes at most N bytes per second per connection. */
  faultBytesPerSecond: `${P}fault-bytes-per-second`,
  /** VMExport or VM: the next K requests for this export get an HTTP error (see fault-http-status). Remove and set again to re-arm. */
  faultHttpErrors: `${P}fault-http-errors`,
  /** VMExport or VM: the status code of fault-http-errors (default 503). */
  faultHttpStatus: `${P}fault-http-status`,
  /**
   * VM: "<when>=<what>[,<when>=<what>]" changes the VM once per snapshot or export at that
   * moment (real/vm-changes.ts). when: snapshot-start (the CSI sidecar stand-in sees a
   * VolumeSnapshotContent of the VM's snapshot, before it cuts), snapshot-done (right after
   * it wrote readyToUse), export-ready (the kubelet stand-in first reports the exporter Pod
   * Ready), export-read (the Service proxy passes the first bytes of an export download).
   * what: Stopped (runStrategy Halted), Running (Always), Paused, Deleted (the VM is deleted).
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
