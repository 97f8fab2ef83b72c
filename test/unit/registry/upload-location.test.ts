import {
  contentRange,
  resolveLocation,
  storedBytesFromRange,
  withDigest,
} from '../../../src/registry/upload-location.js';

describe('upload Location and Range handling', () => {
  const request = 'https://r.io:5000/v2/vm/web/blobs/uploads/abc?_state=old';

  it('resolves relative and absolute Locations against the request URL', () => {
    expect(resolveLocation('/v2/vm/web/blobs/uploads/abc?_state=new', request)).toBe(
      'https://r.io:5000/v2/vm/web/blobs/uploads/abc?_state=new',
    );
    expect(resolveLocation('abc2?_state=x', request)).toBe(
      'https://r.io:5000/v2/vm/web/blobs/uploads/abc2?_state=x',
    );
    expect(resolveLocation('https://cdn.example.com/up/1', request)).toBe('https://cdn.example.com/up/1');
    expect(() => resolveLocation(undefined, request)).toThrow('without a Location');
  });

  it('reads the bytes a registry holds from Range', () => {
    expect(storedBytesFromRange('0-8388607')).toBe(8 * 1024 * 1024);
    expect(storedBytesFromRange('bytes=0-99')).toBe(100);
    expect(storedBytesFromRange(undefined)).toBe(0);
    // Distribution answers 0-0 for an empty upload.
    expect(storedBytesFromRange('0-0')).toBe(0);
    expect(() => storedBytesFromRange('5-10')).toThrow('unreadable Range');
  });

  it('writes Content-Range with an inclusive end and no unit', () => {
    expect(contentRange(0, 8)).toBe('0-7');
    expect(contentRange(8388608, 8388608)).toBe('8388608-16777215');
  });

  it('adds the digest to a Location and keeps its _state', () => {
    const url = new URL(withDigest(request, 'sha256:abc'));
    expect(url.searchParams.get('_state')).toBe('old');
    expect(url.searchParams.get('digest')).toBe('sha256:abc');
  });
});
