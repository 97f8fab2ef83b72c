// Default ServerImage names, like Nova's snapshot names: the server's name and the UTC
// time of the request, e.g. web-01-20261127-030000. The result is a DNS-1123 subdomain
// of at most 63 characters, so it is also a valid image tag and a readable child name.

const MAX_NAME = 63;

/** 2026-11-27T03:00:00Z -> "20261127-030000". */
export function utcStamp(at: Date): string {
  const iso = at.toISOString(); // 2026-11-27T03:00:00.000Z
  return `${iso.slice(0, 10).replace(/-/g, '')}-${iso.slice(11, 19).replace(/:/g, '')}`;
}

export function defaultImageName(vm: string, at: Date): string {
  const stamp = utcStamp(at);
  const prefix = vm
    .toLowerCase()
    .slice(0, MAX_NAME - stamp.length - 1)
    // A subdomain's parts end in an alphanumeric: no trailing dot or dash before ours.
    .replace(/[-.]+$/, '');
  return prefix ? `${prefix}-${stamp}` : stamp;
}
