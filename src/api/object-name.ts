// An object's name as a field of our API: what Kubernetes allows as a name (DNS-1123
// subdomain, at most 253 characters), with what it names in the field's description.
import { z } from 'zod';
import { DNS1123_SUBDOMAIN } from './names.js';

export const objectNameSchema = (description: string) =>
  z.string().min(1).max(253).regex(new RegExp(DNS1123_SUBDOMAIN)).describe(description);
