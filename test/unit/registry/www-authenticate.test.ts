import { parseWwwAuthenticate } from '../../../src/registry/www-authenticate.js';

describe('parseWwwAuthenticate', () => {
  it('reads a Distribution bearer challenge', () => {
    expect(
      parseWwwAuthenticate(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:vm/web:pull,push"',
      ),
    ).toEqual([
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.example.com/token',
          service: 'registry.example.com',
          scope: 'repository:vm/web:pull,push',
        },
      },
    ]);
  });

  it('keeps error parameters and is case-insensitive about names', () => {
    const [challenge] = parseWwwAuthenticate('bearer Realm="r", Service="s", error="invalid_token"');
    expect(challenge).toEqual({
      scheme: 'bearer',
      params: { realm: 'r', service: 's', error: 'invalid_token' },
    });
  });

  it('reads Basic, unquoted values and escaped quotes', () => {
    expect(parseWwwAuthenticate('Basic realm="a \\"quoted\\" realm", charset=UTF-8')).toEqual([
      { scheme: 'basic', params: { realm: 'a "quoted" realm', charset: 'UTF-8' } },
    ]);
  });

  it('splits several challenges in one header and across headers', () => {
    const parsed = parseWwwAuthenticate(['Basic realm="x", Bearer realm="y",scope="a b"', 'Negotiate']);
    expect(parsed.map((c) => c.scheme)).toEqual(['basic', 'bearer', 'negotiate']);
    expect(parsed[1]!.params).toEqual({ realm: 'y', scope: 'a b' });
  });

  it('answers nothing for a missing header', () => {
    expect(parseWwwAuthenticate(undefined)).toEqual([]);
    expect(parseWwwAuthenticate('')).toEqual([]);
  });
});
