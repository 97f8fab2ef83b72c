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
  /**
   * spec.verify.boot: the image booted as a throw-away VMI (True), did not (False), or is
   * booting (Unknown). Absent when no verification was asked for.
   */
  Verified: 'Verified',
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
  /** The transfer Pod is made and not running yet: waiting for the scheduler, its image, its start. */
  TransferPodPending: 'TransferPodPending',
  /** Deleting: waiting for the transfer Pods to stop (each cancels its upload session). */
  TransferPodStopping: 'TransferPodStopping',
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
  /** A transfer Pod's result leaves volumes out (more than fit in 4096 bytes): retried. */
  TransferResultIncomplete: 'TransferResultIncomplete',
  // A transfer Pod's failures, in its own words (src/transfer/pod-outcome.ts reads them off
  // the Pod); retried within the budget unless the table in docs/troubleshooting.md says not.
  /** Killed for using more memory than its limit: --transfer-memory-limit. */
  TransferPodOOMKilled: 'TransferPodOOMKilled',
  /** Its image cannot be pulled (ErrImagePull, ImagePullBackOff, an invalid name). */
  TransferImagePullFailed: 'TransferImagePullFailed',
  /** Unschedulable for --transfer-unschedulable-timeout (the scheduler's message): not retried. */
  TransferPodUnschedulable: 'TransferPodUnschedulable',
  /** Scheduled but its container not started in 5 minutes (its Events say why). */
  TransferPodNotStarting: 'TransferPodNotStarting',
  /** The kubelet could not create or start its container. */
  TransferPodContainerError: 'TransferPodContainerError',
  /** Ended without a result: killed by a signal, or crashed before writing one. */
  TransferPodKilled: 'TransferPodKilled',
  /** Exited 0 but its termination message is not a transfer result. */
  TransferPodResultMissing: 'TransferPodResultMissing',
  /** No scheduler looked at it in 5 minutes. */
  TransferPodNotScheduled: 'TransferPodNotScheduled',
  TransferPodEvicted: 'TransferPodEvicted',
  TransferPodPreempted: 'TransferPodPreempted',
  /** Its node became unreachable or was removed. */
  TransferPodNodeLost: 'TransferPodNodeLost',
  /** Deleted by someone before it reported a result. */
  TransferPodDeleted: 'TransferPodDeleted',
  /** Ran past an activeDeadlineSeconds someone set on it: not retried. */
  TransferPodDeadlineExceeded: 'TransferPodDeadlineExceeded',
  /** The request or its mounted Secrets are unusable (the Pod's exit code 64): not retried. */
  TransferRequestInvalid: 'TransferRequestInvalid',
  /** The transfer was stopped (SIGTERM) before it ended. */
  TransferCancelled: 'TransferCancelled',
  /** A phase threw an error that names no reason of its own (an API call failed, say). */
  ReconcileError: 'ReconcileError',
  // Purged (Error) and deletion.
  Purged: 'Purged',
  UploadSessionNotCancelled: 'UploadSessionNotCancelled',
  /** Pushed images the registry would not delete (deletion policy Delete, or the purge in Error). */
  ImagesNotDeleted: 'ImagesNotDeleted',
  // Verification (spec.verify.boot; the phase stays Active).
  /** --max-concurrent-verifications VMIs are booting: this one waits; its timeout has not started. */
  WaitingForVerificationSlot: 'WaitingForVerificationSlot',
  /** The throw-away VMI is created and booting. */
  Verifying: 'Verifying',
  /** It booted: the guest agent connected (check GuestAgent) or the VMI is Ready (Running). */
  BootVerified: 'BootVerified',
  /** It did not boot within the timeout, failed, or could not be created. */
  BootFailed: 'BootFailed',
  /** format.layout chunked: no containerDisk to boot; nothing was tried. */
  VerificationNotPossible: 'VerificationNotPossible',
  // Success details.
  Succeeded: 'Succeeded',
  ServerStateRestored: 'ServerStateRestored',
  ServerStateChanged: 'ServerStateChanged',
} as const;
