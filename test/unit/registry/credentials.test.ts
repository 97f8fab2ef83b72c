import { credentialsFromSecret, normalizeRegistryHost, RegistryError } from '../../../src/registry/index.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const dockerSecret = (auths: Record<string, unknown>) => ({
  type: 'kubernetes.io/dockerconfigjson',
  metadata: { name: 'regcred' },
  data: { '.dockerconfigjson': b64(JSON.stringify({ auths })) },
});

describe('credentialsFromSecret', () => {
  it('reads auths[host].auth (user:pass, password may hold colons)', () => {
    const secret = dockerSecret({ 'registry.example.com:5000': { auth: b64('robot:pa:ss') } });
    expect(credentialsFromSecret(secret, 'registry.example.com:5000')).toEqual({
      username: 'robot',
      password: 'pa:ss',
    });
  });

  it('reads username/password fields and matches keys with scheme and path', () => {
    const secret = dockerSecret({ 'https://Registry.Example.com/v1/': { username: 'u', password: 'p' } });
    expect(credentialsFromSecret(secret, 'registry.example.com')).toEqual({ username: 'u', password: 'p' });
  });

  it('treats the names of Docker Hub as one', () => {
    const secret = dockerSecret({ 'https://index.docker.io/v1/': { auth: b64('hub:pw') } });
    expect(credentialsFromSecret(secret, 'registry-1.docker.io')).toEqual({
      username: 'hub',
      password: 'pw',
    });
  });

  it('reads stringData as well as data', () => {
    const secret = {
      type: 'kubernetes.io/dockerconfigjson',
      stringData: { '.dockerconfigjson': JSON.stringify({ auths: { 'r.io': { auth: b64('a:b') } } }) },
    };
    expect(credentialsFromSecret(secret, 'r.io')).toEqual({ username: 'a', password: 'b' });
  });

  it('reads a basic-auth Secret', () => {
    const secret = {
      type: 'kubernetes.io/basic-auth',
      data: { username: b64('user'), password: b64('secret') },
    };
    expect(credentialsFromSecret(secret, 'any.host')).toEqual({ username: 'user', password: 'secret' });
  });

  it('says which hosts a dockerconfigjson has when ours is missing, without any secret value', () => {
    const secret = dockerSecret({ 'other.io': { auth: b64('user:topsecret') } });
    let err: unknown;
    try {
      credentialsFromSecret(secret, 'registry.example.com');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).reason).toBe('InvalidCredentialsSecret');
    expect((err as RegistryError).message).toContain('Secret regcred');
    expect((err as RegistryError).message).toContain('other.io');
    expect((err as RegistryError).message).not.toContain('topsecret');
  });

  it.each([
    [{ type: 'Opaque', data: {} }, 'not supported'],
    [{ type: 'kubernetes.io/dockerconfigjson', data: {} }, 'no .dockerconfigjson'],
    [
      { type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': b64('{nope') } },
      'not valid JSON',
    ],
    [{ type: 'kubernetes.io/basic-auth', data: { password: b64('x') } }, 'needs username and password'],
  ])('refuses an unusable Secret (%#)', (secret, message) => {
    expect(() => credentialsFromSecret(secret, 'r.io')).toThrow(message);
  });
});

describe('normalizeRegistryHost', () => {
  it.each([
    ['https://r.io:5000/v2/', 'r.io:5000'],
    ['http://R.IO', 'r.io'],
    ['r.io/some/path', 'r.io'],
    ['docker.io', 'docker.io'],
    ['https://index.docker.io/v1/', 'docker.io'],
  ])('%s -> %s', (input, expected) => {
    expect(normalizeRegistryHost(input)).toBe(expected);
  });
});
