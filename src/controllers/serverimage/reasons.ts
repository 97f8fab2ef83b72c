// Condition types and reasons of a ServerImage: what `kubectl describe` shows and what
// scripts match on. Nova's error codes map to the terminal reasons (DESIGN.md).

export const ConditionType = {
  /** kstatus' summary: True when Active. */
  Ready: 'Ready',
  /** The VM may be imaged: it exists, is in an imageable state, its volumes can be snapshotted. */
  ServerReady: 'ServerReady',
  Snapshotted: 'Snapshotted',
  Exported: 'Exported',
  Pushed: 'Pushed',
  /** The VM is back in the state it had at request time. */
  ServerRestored: 'ServerRestored',
  /** kstatus: work under way (Queued, Saving). */
  Reconciling: 'Reconciling',
  /** kstatus: failed and will not progress (Error). */
  Stalled: 'Stalled',
} as const;

export const Reason = {
  Queued: 'Queued',
  Saving: 'Saving',
  Active: 'Active',
  // Waiting, not terminal (Nova 409 / 503 while within the deadline).
  WaitingForServer: 'WaitingForServer',
  WaitingForServerState: 'WaitingForServerState',
  WaitingForOtherImage: 'WaitingForOtherImage',
  WaitingForExportSlot: 'WaitingForExportSlot',
  SnapshotInProgress: 'SnapshotInProgress',
  ExportPending: 'ExportPending',
  Pushing: 'Pushing',
  Retrying: 'Retrying',
  // Terminal (phase Error). Failures of the data path and the registry bring their own
  // reasons (RegistryUnauthorized, RegistryForbidden, CredentialsNotFound, ExportTruncated ...).
  ServerNotFound: 'ServerNotFound',
  ServerDeleted: 'ServerDeleted',
  InvalidServerState: 'InvalidServerState',
  UnsupportedVolume: 'UnsupportedVolume',
  SnapshotFailed: 'SnapshotFailed',
  SnapshotTimeout: 'SnapshotTimeout',
  ExportTimeout: 'ExportTimeout',
  /** The export lacks a volume's raw link or its CA. */
  ExportIncomplete: 'ExportIncomplete',
  // Success details.
  Succeeded: 'Succeeded',
  ServerStateRestored: 'ServerStateRestored',
  ServerStateChanged: 'ServerStateChanged',
} as const;
