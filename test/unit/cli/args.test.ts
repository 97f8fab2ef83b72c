import { parseCommandLine, parseProperty, parseTimeout } from '../../../src/cli/args.js';
import { ExitCode, UsageError } from '../../../src/cli/exit-codes.js';

const usageError = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  try {
    parseCommandLine(argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(ExitCode.Usage);
    return (err as Error).message;
  }
  throw new Error(`parsed without error: ${argv.join(' ')}`);
};

describe('create', () => {
  test('takes every flag, repeated ones collected', () => {
    expect(
      parseCommandLine([
        'create',
        'web-01',
        '--name=web-01-nightly',
        '--image-name',
        'web nightly',
        '--property',
        'os_distro=fedora',
        '--property',
        'note=a=b',
        '--repository',
        'reg.example.com/vms/{vm}',
        '--tag',
        'v1',
        '--credentials',
        'regcred',
        '--ca-secret',
        'regca',
        '--insecure',
        '--volume',
        'rootdisk',
        '--volume',
        'data',
        '--deletion-policy',
        'Delete',
        '--wait',
        '--timeout',
        '30m',
        '-n',
        'prod',
        '--context',
        'lab',
        '--kubeconfig',
        '/tmp/kc',
        '-o',
        'yaml',
      ]),
    ).toEqual({
      command: 'create',
      cluster: { kubeconfig: '/tmp/kc', context: 'lab', namespace: 'prod' },
      vm: 'web-01',
      name: 'web-01-nightly',
      imageName: 'web nightly',
      properties: { os_distro: 'fedora', note: 'a=b' },
      repository: 'reg.example.com/vms/{vm}',
      tag: 'v1',
      credentials: 'regcred',
      caSecret: 'regca',
      insecure: true,
      volumes: ['rootdisk', 'data'],
      deletionPolicy: 'Delete',
      wait: true,
      timeoutMs: 30 * 60_000,
      output: 'yaml',
    });
  });

  test('defaults: no wait, two hours, repository from SERVERIMAGE_REPOSITORY', () => {
    expect(parseCommandLine(['create', 'vm1'], { SERVERIMAGE_REPOSITORY: 'r.example.com/x/{vm}' })).toEqual({
      command: 'create',
      cluster: {},
      vm: 'vm1',
      properties: {},
      repository: 'r.example.com/x/{vm}',
      insecure: false,
      volumes: [],
      wait: false,
      timeoutMs: 7_200_000,
    });
  });

  test('the flag wins over the environment', () => {
    const parsed = parseCommandLine(['create', 'vm1', '--repository', 'a.example.com/b'], {
      SERVERIMAGE_REPOSITORY: 'r.example.com/x',
    });
    expect(parsed).toEqual(expect.objectContaining({ repository: 'a.example.com/b' }));
  });

  test('values the API server judges pass through unchecked', () => {
    const parsed = parseCommandLine([
      'create',
      'vm1',
      '--repository',
      'NOT A REPO',
      '--property',
      'bad/key=v',
      '--deletion-policy',
      'Sometimes',
    ]);
    expect(parsed).toEqual(
      expect.objectContaining({
        repository: 'NOT A REPO',
        properties: { 'bad/key': 'v' },
        deletionPolicy: 'Sometimes',
      }),
    );
  });

  test.each([
    [['create'], 'create needs a VirtualMachine name'],
    [['create', 'a', 'b', '--repository', 'r.io/x'], 'create takes one a VirtualMachine name, got: a b'],
    [['create', 'vm1'], 'create needs --repository REPO (or SERVERIMAGE_REPOSITORY in the environment)'],
    [
      ['create', 'vm1', '--repository', 'r.io/x', '--property', 'novalue'],
      '--property "novalue" is not key=value',
    ],
    [['create', 'vm1', '--repository', 'r.io/x', '--timeout', 'soon'], '--timeout "soon" is not a duration'],
    [['create', 'vm1', '--repository', 'r.io/x', '-o', 'wide'], 'create -o takes json, yaml; got "wide"'],
    [['create', 'vm1', '--repository', 'r.io/x', '-A'], 'create does not take --all-namespaces'],
    [['create', 'vm1', '--repository', 'r.io/x', '--bogus'], "Unknown option '--bogus'"],
    [['create', 'vm1', '--repository'], "Option '--repository <value>' argument missing"],
  ])('%j is a usage error', (argv, message) => {
    expect(usageError(argv)).toContain(message);
  });
});

describe('wait', () => {
  test('wait NAME takes --timeout, -o and the cluster flags', () => {
    expect(
      parseCommandLine(['wait', 'web-01-nightly-1', '--timeout', '5m', '-n', 'demo', '-o', 'json']),
    ).toEqual({
      command: 'wait',
      cluster: { namespace: 'demo' },
      name: 'web-01-nightly-1',
      timeoutMs: 5 * 60_000,
      output: 'json',
    });
  });

  test('defaults: two hours, no -o', () => {
    expect(parseCommandLine(['wait', 'img-1'])).toEqual({
      command: 'wait',
      cluster: {},
      name: 'img-1',
      timeoutMs: 7_200_000,
    });
  });

  test('wait --help is its help', () => {
    expect(parseCommandLine(['wait', '--help'])).toEqual({ command: 'help', topic: 'wait' });
  });

  test.each([
    [['wait'], 'wait needs a ServerImage name'],
    [['wait', 'a', 'b'], 'wait takes one a ServerImage name, got: a b'],
    [['wait', 'a', '--wait'], 'wait does not take --wait'],
    [['wait', 'a', '-A'], 'wait does not take --all-namespaces'],
    [['wait', 'a', '--repository', 'r.io/x'], 'wait does not take --repository'],
    [['wait', 'a', '-o', 'wide'], 'wait -o takes json, yaml; got "wide"'],
    [['wait', 'a', '--timeout', '0s'], '--timeout "0s" is not a duration'],
  ])('%j is a usage error', (argv, message) => {
    expect(usageError(argv)).toContain(message);
  });
});

describe('list, describe, delete', () => {
  test('list defaults to a table in the current namespace', () => {
    expect(parseCommandLine(['list'])).toEqual({
      command: 'list',
      cluster: {},
      allNamespaces: false,
      output: 'table',
    });
  });

  test('list -A -o wide', () => {
    expect(parseCommandLine(['list', '-A', '-o', 'wide'])).toEqual(
      expect.objectContaining({ allNamespaces: true, output: 'wide' }),
    );
  });

  test('flags may come before the command, as with kubectl', () => {
    expect(parseCommandLine(['-n', 'prod', 'describe', 'img-1', '-o', 'json'])).toEqual({
      command: 'describe',
      cluster: { namespace: 'prod' },
      name: 'img-1',
      output: 'json',
    });
  });

  test('delete --wait --timeout', () => {
    expect(parseCommandLine(['delete', 'img-1', '--wait', '--timeout', '90s'])).toEqual({
      command: 'delete',
      cluster: {},
      name: 'img-1',
      wait: true,
      timeoutMs: 90_000,
    });
  });

  test.each([
    [['list', '-A', '-n', 'x'], 'list takes -n NAMESPACE or -A, not both'],
    [['list', 'extra'], 'list takes no arguments'],
    [['list', '-o', 'name'], 'list -o takes wide, json, yaml; got "name"'],
    [['describe'], 'describe needs a ServerImage name'],
    [['delete', 'a', '-o', 'json'], 'delete does not take --output'],
    [['delete', 'a', '--property', 'k=v'], 'delete does not take --property'],
    [['frobnicate'], 'unknown command "frobnicate"'],
    [[], 'missing command'],
    [['help', 'frobnicate'], 'unknown command "frobnicate"'],
  ])('%j is a usage error', (argv, message) => {
    expect(usageError(argv)).toContain(message);
  });
});

describe('help and version', () => {
  test.each([
    [['--help'], { command: 'help' }],
    [['-h'], { command: 'help' }],
    [['help'], { command: 'help' }],
    [['help', 'create'], { command: 'help', topic: 'create' }],
    [['create', '--help'], { command: 'help', topic: 'create' }],
    [['list', '-h'], { command: 'help', topic: 'list' }],
    [['--version'], { command: 'version' }],
  ])('%j', (argv, expected) => {
    expect(parseCommandLine(argv)).toEqual(expected);
  });
});

test('parseProperty splits at the first =', () => {
  expect(parseProperty('a=b=c')).toEqual(['a', 'b=c']);
  expect(parseProperty('empty=')).toEqual(['empty', '']);
});

test('parseTimeout takes Go-style durations and refuses zero', () => {
  expect(parseTimeout('500ms')).toBe(500);
  expect(parseTimeout('2h')).toBe(7_200_000);
  expect(() => parseTimeout('0s')).toThrow(UsageError);
  expect(() => parseTimeout('10')).toThrow(UsageError);
});
