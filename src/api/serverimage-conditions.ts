// Condition types and reasons of a ServerImage: what `kubectl describe` shows and what
// scripts match on. Nova's error codes map to the terminal reasons (ARCHITECTURE.md,
// "Nova's answers").

export const ConditionType = {
  /** kstatus' summary: True when Active. */
  Ready: 'Ready',
  /** The VM may be imaged: it exists, is in an imageable state, its volumes can be snapshotted. */
  ServerReady: 'ServerReady',
  /**
   * The registry can be pushed to: allowed by the operator, credentials and CA resolved,
   * authenticated, and an upload session opened and cancelled (checked before the snapshot).
   */
  RegistryReady: 'RegistryReady',
  Snapshotted: 'Snapshotted',
  Exported: 'Exported',
  Pushed: 'Pushed',
  /** The VM is back in the state it had at request time. */
  ServerRestored: 'ServerRestored',
  /** kstatus: work under way (Queued, Saving). */
  Reconciling: 'Reconciling',
  /** kstatus: failed and will not progress (Error). */
  Stalled: 'Stalled',
  /** In Error: the snapshot, the export and any partly pushed image are removed. */
  Purged: 'Purged',
} as const;

export const Reason = {
  Queued: 'Queued',
  Saving: 'Saving',
  Active: 'Active',
  // Waiting, not terminal (Nova 409 / 503 while within the deadline).
  WaitingForServer: 'WaitingForServer',
  WaitingForServerState: 'WaitingForServerState',
  WaitingForOtherImage: 'WaitingForOtherImage',
  /** A PVC not there or not Bound yet, a DataVolume not Succeeded yet. */
  WaitingForVolume: 'WaitingForVolume',
  /** The registry precondition failed in a way worth retrying (unreachable, 5xx, Secret missing). */
  WaitingForRegistry: 'WaitingForRegistry',
  WaitingForExportSlot: 'WaitingForExportSlot',
  SnapshotInProgress: 'SnapshotInProgress',
  /** The event when the snapshot is ready. */
  Snapshotted: 'Snapshotted',
  ExportPending: 'ExportPending',
  Pushing: 'Pushing',
  Retrying: 'Retrying',
  // Terminal (phase Error). Failures of the data path and the registry bring their own
  // reasons (RegistryUnauthorized, RegistryForbidden, CredentialsNotFound, ExportTruncated ...).
  ServerNotFound: 'ServerNotFound',
  ServerDeleted: 'ServerDeleted',
  InvalidServerState: 'InvalidServerState',
  /** KubeVirt marks the VM failed (its Failure condition): its snapshot cannot be exported. */
  ServerFailed: 'ServerFailed',
  UnsupportedVolume: 'UnsupportedVolume',
  /** WaitingForVolume past --server-state-timeout. */
  VolumeNotReady: 'VolumeNotReady',
  /** The repository's host is not in --allowed-registries. */
  RegistryNotAllowed: 'RegistryNotAllowed',
  /** The registry precondition kept failing past --registry-retry-timeout. */
  RegistryUnavailable: 'RegistryUnavailable',
  SnapshotFailed: 'SnapshotFailed',
  SnapshotTimeout: 'SnapshotTimeout',
  ExportTimeout: 'ExportTimeout',
  /** The export lacks a volume's raw link or its CA. */
  ExportIncomplete: 'ExportIncomplete',
  /** The snapshot's content (the VM definition the artifact carries) is not there or not readable. */
  SnapshotContentMissing: 'SnapshotContentMissing',
  /** A transfer failed with an error that names no reason of its own (retried). */
  TransferFailed: 'TransferFailed',
  /** A phase threw an error that names no reason of its own (an API call failed, say). */
  ReconcileError: 'ReconcileError',
  // Purged (Error) and deletion.
  Purged: 'Purged',
  UploadSessionNotCancelled: 'UploadSessionNotCancelled',
  /** Pushed images the registry would not delete (deletion policy Delete, or the purge in Error). */
  ImagesNotDeleted: 'ImagesNotDeleted',
  // Success details.
  Succeeded: 'Succeeded',
  ServerStateRestored: 'ServerStateRestored',
  ServerStateChanged: 'ServerStateChanged',
} as const;
