// Condition types and the reasons of conditions and Events of a ServerImageSchedule.
export const ConditionType = {
  Ready: 'Ready',
  BackupsOverdue: 'BackupsOverdue',
} as const;

export const Reason = {
  Scheduled: 'Scheduled',
  Suspended: 'Suspended',
  InvalidSchedule: 'InvalidSchedule',
  BackupsRecent: 'BackupsRecent',
  NoRecentBackup: 'NoRecentBackup',
  // Events
  Run: 'Run',
  MissedSchedule: 'MissedSchedule',
  SkippedServer: 'SkippedServer',
  ServerNotFound: 'ServerNotFound',
  NoServersSelected: 'NoServersSelected',
  RotatedImage: 'RotatedImage',
  DeletedFailedImage: 'DeletedFailedImage',
} as const;
