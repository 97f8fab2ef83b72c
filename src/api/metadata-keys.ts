// The finalizer, labels, annotations and field manager the operator puts on objects:
// what scripts and `kubectl get -l` match on, so they are part of the API.

/** Runs the deletion policy before a ServerImage goes. */
export const SERVERIMAGE_FINALIZER = 'serverimage.io/finalizer';

/** Label on every object made for a ServerImage, with its name: for people and for listing. */
export const SERVERIMAGE_LABEL = 'serverimage.io/serverimage';

/**
 * Annotation on a ServerImage holding the Location of the upload session in progress, so
 * that an operator restarted after a crash cancels it instead of leaving it open.
 */
export const UPLOAD_SESSION_ANNOTATION = 'serverimage.io/upload-session';

/** Labels on every backup: which schedule made it, of which VM, in which rotation group. */
export const SCHEDULE_LABEL = 'serverimage.io/schedule';
export const SERVER_LABEL = 'serverimage.io/server';
export const BACKUP_TYPE_LABEL = 'serverimage.io/backup-type';

/** The due time a backup was made for (RFC 3339): rotation orders by it, newest first. */
export const SCHEDULED_TIME_ANNOTATION = 'serverimage.io/scheduled-time';

/** The field manager of every write the operator makes (server-side apply owners, managedFields). */
export const FIELD_MANAGER = 'serverimage-operator';

/** The `source.component` of the operator's Events. */
export const EVENT_COMPONENT = 'serverimage-operator';
