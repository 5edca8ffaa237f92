import assert from 'node:assert/strict';
import { phaseOf } from '../../src/starters/schedule';

describe('phaseOf: where in its period a table’s batches start', () => {
  it('is stable, whole seconds inside the period, and spreads many tables over it', () => {
    const names = Array.from({ length: 200 }, (_, i) => `shop.t${i}`);
    const phases = names.map((name) => phaseOf(name, 60_000));
    assert.deepEqual(
      names.map((name) => phaseOf(name, 60_000)),
      phases,
    );
    for (const phase of phases) assert.ok(phase >= 0 && phase < 60_000 && phase % 1000 === 0, String(phase));
    // 200 tables over 60 seconds: no second takes more than a few, most seconds take some.
    const perSecond = new Map<number, number>();
    for (const phase of phases) perSecond.set(phase, (perSecond.get(phase) ?? 0) + 1);
    assert.ok(perSecond.size >= 50, `only ${perSecond.size} distinct seconds`);
    assert.ok(Math.max(...perSecond.values()) <= 10, `a second with ${Math.max(...perSecond.values())} tables`);
  });

  it('keeps sub-second periods at phase 0', () => {
    assert.equal(phaseOf('shop.orders', 500), 0);
  });
});
