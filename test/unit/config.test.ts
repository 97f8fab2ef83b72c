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
