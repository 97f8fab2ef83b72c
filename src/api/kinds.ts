// The kinds of serverimage.io/v1alpha1 as API calls name them: kind, plural, and the
// group/version/resource a client or an informer is given. Import these, never the literals.
import { GROUP, VERSION } from './names.js';

export const API_VERSION = `${GROUP}/${VERSION}`;

export const SERVERIMAGE_KIND = 'ServerImage' as const;
export const SERVERIMAGE_PLURAL = 'serverimages';
export const SERVERIMAGESCHEDULE_KIND = 'ServerImageSchedule';
export const SERVERIMAGESCHEDULE_PLURAL = 'serverimageschedules';

/** Group, version, resource (and kind) of ServerImages, as CustomObjectsApi and informers take them. */
export const SERVERIMAGE_RESOURCE = {
  group: GROUP,
  version: VERSION,
  plural: SERVERIMAGE_PLURAL,
  kind: SERVERIMAGE_KIND,
};

export const SERVERIMAGESCHEDULE_RESOURCE = {
  group: GROUP,
  version: VERSION,
  plural: SERVERIMAGESCHEDULE_PLURAL,
  kind: SERVERIMAGESCHEDULE_KIND,
};

/** What an owner reference to a ServerImage carries (apiVersion, kind). */
export const SERVERIMAGE_OWNER_KIND = { apiVersion: API_VERSION, kind: SERVERIMAGE_KIND };

/** How kubectl names a ServerImage in its messages: `serverimage.serverimage.io/NAME created`. */
export const SERVERIMAGE_KUBECTL_NAME = `serverimage.${GROUP}`;
