import { ApiException } from '@kubernetes/client-node';
import { apiErrorMessage, isNotFoundError } from '../../../src/cli/api-error.js';

const invalid = {
  kind: 'Status',
  apiVersion: 'v1',
  status: 'Failure',
  reason: 'Invalid',
  code: 422,
  message:
    'ServerImage.serverimage.io "x" is invalid: spec.metadata: Invalid value: "object": metadata keys must be ...',
};

test.each([
  ['a parsed Status', invalid],
  ['a Status as text', JSON.stringify(invalid)],
])('kubectl-style message from %s', (_what, body) => {
  expect(apiErrorMessage(new ApiException(422, 'Unprocessable Entity', body, {}))).toBe(
    `Error from server (Invalid): ${invalid.message}`,
  );
});

test('a body that is not a Status still says something', () => {
  expect(apiErrorMessage(new ApiException(502, 'Bad Gateway', 'upstream down', {}))).toBe(
    'Error from server (HTTP 502): upstream down',
  );
  expect(apiErrorMessage(new ApiException(503, '', undefined, {}))).toBe(
    'Error from server (HTTP 503): HTTP 503',
  );
});

test('other errors are not API errors', () => {
  expect(apiErrorMessage(new Error('connect ECONNREFUSED'))).toBeUndefined();
  expect(isNotFoundError(new ApiException(404, 'Not Found', {}, {}))).toBe(true);
  expect(isNotFoundError(new ApiException(409, 'Conflict', {}, {}))).toBe(false);
});
