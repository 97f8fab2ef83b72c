// The ServerImageSchedule API: Nova's createBackup (name, backup_type, rotation) made
// declarative, for one VM or every VM matching a label selector. These zod schemas are
// the one source of the TypeScript types and of crds/serverimage.io_serverimageschedules.yaml.
import { z } from 'zod';
import { conditionSchema } from './condition.js';
import { objectNameSchema } from './object-name.js';
import { NOVA_METADATA_KEY, NOVA_METADATA_MAX_ITEMS, OCI_REPOSITORY } from './names.js';
import { registrySpecSchema, serverImageSpecSchema } from './serverimage.js';

const cel = (rule: string, message: string, extra: Record<string, unknown> = {}) => ({
  rule,
  message,
  ...extra,
});

/** The properties a backup gets from us (Nova's), so the template may hold three fewer. */
export const NOVA_BACKUP_PROPERTIES = ['image_type', 'backup_type', 'instance_uuid'] as const;

/** The placeholder that one template repository uses for every VM of a fleet. */
export const VM_PLACEHOLDER = '{vm}';

/** A Kubernetes label value: what backupType becomes in the serverimage.io/backup-type label. */
const LABEL_VALUE = '^[a-z0-9A-Z]([-_.a-z0-9A-Z]{0,61}[a-z0-9A-Z])?$';

// Five fields (minute hour day-of-month month day-of-week), or six with a leading seconds
// field (croner's extension), or a nickname. Only the shape: croner checks the ranges, and
// a pattern it refuses sets Ready=False/InvalidSchedule.
const CRON_FIELD = '[0-9A-Za-z*?/,#-]+';
export const CRON_SHAPE = `^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|(${CRON_FIELD}\\s+){4,5}${CRON_FIELD})$`;

// The template repository may hold {vm} anywhere a path component's letters may be: the
// VM's name (a DNS-1123 subdomain) put in its place keeps the reference valid.
export const TEMPLATE_REPOSITORY = OCI_REPOSITORY.replaceAll('[a-z0-9]+', '(?:[a-z0-9]|\\{vm\\})+');

const templateRegistrySchema = registrySpecSchema
  .omit({ tag: true, repository: true })
  .extend({
    repository: z
      .string()
      .min(1)
      .max(255)
      .regex(new RegExp(TEMPLATE_REPOSITORY))
      .describe(
        'OCI repository of the backups, with its registry host; {vm} is replaced by the VM name, so one ' +
          'schedule serves a fleet: e.g. registry.example.com/backups/{vm}. The tag is the ServerImage name.',
      ),
  })
  .meta({
    'x-kubernetes-validations': [
      cel(
        '!(self.insecure && has(self.caBundleSecretRef))',
        'insecure and caBundleSecretRef exclude each other',
        {
          fieldPath: '.insecure',
        },
      ),
    ],
  })
  .describe('Where the backups go.');

const MAX_TEMPLATE_METADATA = NOVA_METADATA_MAX_ITEMS - NOVA_BACKUP_PROPERTIES.length;

export const serverImageTemplateSchema = serverImageSpecSchema
  .pick({ volumes: true, format: true, verify: true })
  .extend({
    metadata: z
      .record(z.string(), z.string().max(255))
      .optional()
      .meta({
        maxProperties: MAX_TEMPLATE_METADATA,
        'x-kubernetes-validations': [
          cel(
            `self.all(k, k.matches('${NOVA_METADATA_KEY.replace(/\\/g, '\\\\')}'))`,
            'metadata keys must be 1-255 characters of letters, digits, space and - _ : .',
          ),
          cel(
            `!self.exists(k, k in ${JSON.stringify(NOVA_BACKUP_PROPERTIES).replaceAll('"', "'")})`,
            'image_type, backup_type and instance_uuid are set by the schedule',
          ),
        ],
      })
      .describe(
        `Image properties of every backup (Nova createBackup.metadata), at most ${MAX_TEMPLATE_METADATA}: ` +
          'the schedule adds image_type=backup, backup_type and instance_uuid, as Nova does.',
      ),
    registry: templateRegistrySchema,
    deletionPolicy: z
      .enum(['Retain', 'Delete'])
      .default('Delete')
      .describe(
        'What deleting a backup (by rotation, or by hand) does to its registry tags. Default Delete, so that rotation frees the registry; Retain keeps the tags.',
      ),
  })
  .describe('The ServerImage spec of every backup, without serverRef (the schedule fills it in).');

const labelSelectorSchema = z
  .object({
    matchLabels: z
      .record(z.string(), z.string())
      .optional()
      .describe('Labels a VirtualMachine must all have, key: value.'),
    matchExpressions: z
      .array(
        z
          .object({
            key: z.string().min(1).describe('The label key.'),
            operator: z
              .enum(['In', 'NotIn', 'Exists', 'DoesNotExist'])
              .describe('In, NotIn, Exists or DoesNotExist.'),
            values: z
              .array(z.string().describe('A label value.'))
              .optional()
              .describe('Values for In and NotIn; empty for Exists and DoesNotExist.'),
          })
          .meta({
            'x-kubernetes-validations': [
              cel(
                "self.operator in ['In', 'NotIn'] ? has(self.values) && self.values.size() > 0 : !has(self.values) || self.values.size() == 0",
                'In and NotIn need values; Exists and DoesNotExist take none',
                { fieldPath: '.values' },
              ),
            ],
          })
          .describe('A label selector requirement.'),
      )
      .optional()
      .describe('Label requirements, all of which must hold.'),
  })
  .describe(
    'A metav1.LabelSelector over the VirtualMachines of the namespace, evaluated at each run. ' +
      'An empty selector selects every VM of the namespace.',
  );

export const serverImageScheduleSpecSchema = z
  .object({
    schedule: z
      .string()
      .min(1)
      .max(128)
      .meta({
        'x-kubernetes-validations': [
          cel(
            "!self.contains('TZ=') && !self.contains('CRON_TZ=')",
            'put the time zone in spec.timeZone, not in the schedule',
          ),
          cel(
            `self.matches('${CRON_SHAPE.replace(/\\/g, '\\\\')}')`,
            'schedule must be five cron fields (minute hour day-of-month month day-of-week), six with a leading seconds field, or @yearly, @monthly, @weekly, @daily, @hourly',
          ),
        ],
      })
      .describe(
        'Cron schedule in spec.timeZone: five fields (minute hour day-of-month month day-of-week), ' +
          'optionally a leading sixth for seconds, or @yearly, @monthly, @weekly, @daily, @hourly.',
      ),
    timeZone: z
      .string()
      .min(1)
      .max(64)
      .default('UTC')
      .meta({
        'x-kubernetes-validations': [
          // CEL has no list of zones, but its timestamp functions load one from the API
          // server's own tz database and fail on a name it does not know; a failed rule
          // refuses the object. Offsets (+01:00) and Go's "Local" are no IANA zones: refused first.
          cel(
            "!self.matches('^[-+0-9]') && self != 'Local'",
            'timeZone must be an IANA zone name like Europe/Berlin, not an offset or Local',
          ),
          cel(
            "timestamp('2000-01-01T00:00:00Z').getHours(self) >= 0",
            'timeZone must be an IANA zone name like Europe/Berlin',
          ),
        ],
      })
      .describe(
        'IANA time zone of the schedule, e.g. Europe/Berlin; daylight saving is followed. Default UTC.',
      ),
    serverRef: z
      .object({
        name: objectNameSchema('Name of the VirtualMachine in the schedule’s namespace.'),
      })
      .optional()
      .describe('The one VirtualMachine to back up. Exactly one of serverRef and serverSelector.'),
    serverSelector: labelSelectorSchema.optional(),
    backupType: z
      .string()
      .min(1)
      .max(63)
      .regex(new RegExp(LABEL_VALUE))
      .describe(
        "Nova's backup_type, e.g. nightly or weekly: the rotation group (per VM) and the label serverimage.io/backup-type.",
      ),
    rotation: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .describe(
        'How many Active backups to keep per VM and backupType; the oldest beyond go after each new Active one.',
      ),
    failedImagesToKeep: z
      .number()
      .int()
      .min(0)
      .max(100)
      .default(1)
      .describe(
        'How many Error backups to keep per VM for inspection; older ones are deleted. Never counted in rotation.',
      ),
    suspend: z
      .boolean()
      .default(false)
      .describe(
        'Stamp nothing while true. Unsuspending does not fire missed runs: the next due time is the first.',
      ),
    startingDeadlineSeconds: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe(
        'After downtime only the most recent missed run is started, and only when it is at most this late; ' +
          'otherwise it is skipped with an Event. Default: no deadline (the most recent missed run always starts).',
      ),
    template: serverImageTemplateSchema,
  })
  .meta({
    'x-kubernetes-validations': [
      cel('has(self.serverRef) != has(self.serverSelector)', 'exactly one of serverRef and serverSelector', {
        fieldPath: '.serverRef',
      }),
    ],
  })
  .describe("The backup policy (Nova's createBackup with rotation, on a cron schedule).");

const timestamp = (description: string) => z.string().describe(description).meta({ format: 'date-time' });

export const scheduledServerStatusSchema = z
  .object({
    name: z.string().describe('Name of the VirtualMachine.'),
    lastImage: z.string().optional().describe('The newest Active backup (a ServerImage) of this VM.'),
    lastActiveTime: timestamp('When that backup became Active.').optional(),
    lastScheduledImage: z.string().optional().describe('The ServerImage of the latest run for this VM.'),
    lastScheduledPhase: z.string().optional().describe('Its phase: Queued, Saving, Active or Error.'),
  })
  .describe('One selected VirtualMachine.');

export const serverImageScheduleStatusSchema = z
  .object({
    observedGeneration: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('The metadata.generation this status describes.'),
    conditions: z
      .array(conditionSchema)
      .optional()
      .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] })
      .describe(
        'Ready (the schedule runs), BackupsOverdue (a VM has had no Active backup within two periods).',
      ),
    lastScheduleTime: timestamp('The due time of the latest run.').optional(),
    nextScheduleTime: timestamp('The next due time; absent while suspended.').optional(),
    lastSuccessfulTime: timestamp('When the newest Active backup of this schedule became Active.').optional(),
    servers: z
      .array(scheduledServerStatusSchema)
      .optional()
      .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] })
      .describe('Per selected VM: its newest Active backup and its latest run.'),
  })
  .describe('What the operator observed and did.');

export type ServerImageScheduleSpec = z.infer<typeof serverImageScheduleSpecSchema>;
export type ServerImageScheduleStatus = z.infer<typeof serverImageScheduleStatusSchema>;
export type ScheduledServerStatus = z.infer<typeof scheduledServerStatusSchema>;
export type ServerImageTemplate = z.infer<typeof serverImageTemplateSchema>;
export type LabelSelector = z.infer<typeof labelSelectorSchema>;
