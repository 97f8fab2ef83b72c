// The ServerImageSchedule CustomResourceDefinition, built from the zod schemas.
import { namespacedCrd } from './namespaced-crd.js';
import { serverImageScheduleSpecSchema, serverImageScheduleStatusSchema } from './serverimageschedule.js';
import { SERVERIMAGESCHEDULE_KIND, SERVERIMAGESCHEDULE_PLURAL } from './kinds.js';

export function serverImageScheduleCrd(): Record<string, unknown> {
  return namespacedCrd({
    kind: SERVERIMAGESCHEDULE_KIND,
    plural: SERVERIMAGESCHEDULE_PLURAL,
    singular: 'serverimageschedule',
    // The kind's initials, as si for ServerImage.
    shortNames: ['sis'],
    printerColumns: [
      {
        name: 'Schedule',
        type: 'string',
        jsonPath: '.spec.schedule',
        description: 'The cron schedule',
      },
      {
        name: 'Suspend',
        type: 'boolean',
        jsonPath: '.spec.suspend',
        description: 'Whether it is suspended',
      },
      {
        name: 'Last',
        type: 'date',
        jsonPath: '.status.lastScheduleTime',
        description: 'How long ago the latest run was due',
      },
      // A date column prints an age, and an age of the future is "<invalid>": the time itself.
      {
        name: 'Next',
        type: 'string',
        jsonPath: '.status.nextScheduleTime',
        description: 'The next due time (UTC)',
      },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
      // -o wide (priority 1).
      {
        name: 'Server',
        type: 'string',
        jsonPath: '.spec.serverRef.name',
        description: 'The VirtualMachine (empty when a serverSelector picks them)',
        priority: 1,
      },
      {
        name: 'Type',
        type: 'string',
        jsonPath: '.spec.backupType',
        description: 'The backupType (rotation group)',
        priority: 1,
      },
      {
        name: 'Rotation',
        type: 'integer',
        jsonPath: '.spec.rotation',
        description: 'Active backups kept per VM',
        priority: 1,
      },
      {
        name: 'Last Success',
        type: 'date',
        jsonPath: '.status.lastSuccessfulTime',
        description: 'How long ago the newest Active backup became Active',
        priority: 1,
      },
      {
        name: 'Message',
        type: 'string',
        jsonPath: '.status.conditions[?(@.type=="Ready")].message',
        description: 'The Ready condition message',
        priority: 1,
      },
    ],
    description:
      "ServerImageSchedule stamps out ServerImages on a cron schedule and keeps the newest `rotation` Active ones per VM: OpenStack Nova's createBackup, declarative, for one VM or a fleet.",
    spec: serverImageScheduleSpecSchema,
    status: serverImageScheduleStatusSchema,
    validations: [
      {
        // The name is the value of the serverimage.io/schedule label on every backup. (fieldPath
        // cannot point into metadata: the message names the field.)
        rule: 'self.metadata.name.size() <= 63',
        message: 'metadata.name of a ServerImageSchedule is at most 63 characters (it is a label value)',
      },
    ],
  });
}
