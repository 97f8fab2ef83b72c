import { parseBindAddress } from '../../src/http-server.js';

test.each([
  [':8080', { host: undefined, port: 8080 }],
  ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
  ['0', undefined],
])('bind address %s', (address, expected) => {
  expect(parseBindAddress(address)).toEqual(expected);
});

test('a bad bind address is refused', () => {
  expect(() => parseBindAddress('8080')).toThrow('not a host:port');
  expect(() => parseBindAddress(':99999')).toThrow('not a host:port');
});
