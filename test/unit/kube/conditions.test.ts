import {
  findCondition,
  isConditionTrue,
  metaTime,
  removeCondition,
  setCondition,
} from '../../../src/kube/conditions.js';

const t1 = new Date('2026-11-27T10:00:00.123Z');
const t2 = new Date('2026-11-27T10:05:00.000Z');

describe('setCondition', () => {
  test('adds a new condition with the transition time in whole seconds', () => {
    const { conditions, changed } = setCondition(
      undefined,
      { type: 'Ready', status: 'False', reason: 'Saving', message: 'pushing', observedGeneration: 1 },
      t1,
    );
    expect(changed).toBe(true);
    expect(conditions).toEqual([
      {
        type: 'Ready',
        status: 'False',
        reason: 'Saving',
        message: 'pushing',
        observedGeneration: 1,
        lastTransitionTime: '2026-11-27T10:00:00Z',
      },
    ]);
  });

  test('keeps lastTransitionTime when only reason/message/generation change', () => {
    const first = setCondition([], { type: 'Ready', status: 'False', reason: 'Saving' }, t1).conditions;
    const { conditions, changed } = setCondition(
      first,
      { type: 'Ready', status: 'False', reason: 'Pushing', message: '50%', observedGeneration: 2 },
      t2,
    );
    expect(changed).toBe(true);
    expect(conditions[0]).toMatchObject({ reason: 'Pushing', message: '50%', observedGeneration: 2 });
    expect(conditions[0]!.lastTransitionTime).toBe(metaTime(t1));
  });

  test('moves lastTransitionTime when status changes', () => {
    const first = setCondition([], { type: 'Ready', status: 'False', reason: 'Saving' }, t1).conditions;
    const { conditions } = setCondition(first, { type: 'Ready', status: 'True', reason: 'Active' }, t2);
    expect(conditions[0]!.lastTransitionTime).toBe('2026-11-27T10:05:00Z');
    expect(isConditionTrue(conditions, 'Ready')).toBe(true);
  });

  test('reports no change for the same condition and does not modify the input', () => {
    const first = setCondition(
      [],
      { type: 'Ready', status: 'True', reason: 'Active', observedGeneration: 3 },
      t1,
    ).conditions;
    const frozen = JSON.stringify(first);
    const again = setCondition(first, { type: 'Ready', status: 'True', reason: 'Active' }, t2);
    expect(again.changed).toBe(false);
    expect(again.conditions[0]!.observedGeneration).toBe(3);
    const other = setCondition(first, { type: 'Snapshotted', status: 'True', reason: 'Ready' }, t2);
    expect(other.conditions.map((c) => c.type)).toEqual(['Ready', 'Snapshotted']);
    expect(JSON.stringify(first)).toBe(frozen);
  });

  test('find and remove', () => {
    const list = setCondition([], { type: 'A', status: 'Unknown', reason: 'Waiting' }, t1).conditions;
    expect(findCondition(list, 'A')?.status).toBe('Unknown');
    expect(findCondition(list, 'B')).toBeUndefined();
    expect(removeCondition(list, 'B').changed).toBe(false);
    expect(removeCondition(list, 'A')).toEqual({ conditions: [], changed: true });
  });
});
