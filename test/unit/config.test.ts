import { ConfigError, loadConfig } from '../../src/config.js';

test('defaults', () => {
  const config = loadConfig([], {});
  expect(config.maxConcurrentExports).toBe(2);
  expect(config.serverWaitTimeout).toBe(300_000);
  expect(config.watchNamespaces).toEqual([]);
  expect(config.leaderElect).toBe(false);
});

test('flags win over environment', () => {
  const config = loadConfig(['--max-concurrent-exports', '5', '--export-timeout=90s'], {
    MAX_CONCURRENT_EXPORTS: '3',
    WATCH_NAMESPACES: 'prod, staging',
    LOG_LEVEL: 'debug',
  });
  expect(config.maxConcurrentExports).toBe(5);
  expect(config.exportTimeout).toBe(90_000);
  expect(config.watchNamespaces).toEqual(['prod', 'staging']);
  expect(config.logLevel).toBe('debug');
});

test('a bad value names the flag', () => {
  expect(() => loadConfig(['--snapshot-timeout', 'soon'], {})).toThrow(ConfigError);
  expect(() => loadConfig(['--snapshot-timeout', 'soon'], {})).toThrow(
    /--snapshot-timeout: "soon" is not a duration/,
  );
  expect(() => loadConfig(['--workers', '0'], {})).toThrow(/--workers/);
});

test('an unknown flag is refused', () => {
  expect(() => loadConfig(['--wrokers', '2'], {})).toThrow(/wrokers/);
});

test('a transfer request above its limit is refused, naming both flags', () => {
  expect(() => loadConfig(['--transfer-memory-request=1Gi'], {})).toThrow(
    /^--transfer-memory-request: 1Gi is more than --transfer-memory-limit 512Mi; the API server refuses/,
  );
  expect(() => loadConfig(['--transfer-cpu-request=2', '--transfer-cpu-limit=1500m'], {})).toThrow(
    /--transfer-cpu-request: 2 is more than --transfer-cpu-limit 1500m/,
  );
  // Equal, smaller in other units, or no limit at all: fine.
  expect(() => loadConfig(['--transfer-memory-request=512Mi'], {})).not.toThrow();
  expect(() => loadConfig(['--transfer-memory-request=500M'], {})).not.toThrow();
  expect(() => loadConfig(['--transfer-memory-request=2Gi', '--transfer-memory-limit='], {})).not.toThrow();
  expect(() => loadConfig(['--transfer-cpu-request=4'], {})).not.toThrow();
});
