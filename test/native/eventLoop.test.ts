import { ops, tensor } from '../../lib';

describe('long native calls run off the JS thread', () => {
  it('keeps timers firing while a large matmul runs', async () => {
    const n = 1200;
    const a = tensor(new Float64Array(n * n).fill(1), [n, n]);
    let ticks = 0;
    const timer = setInterval(() => {
      ticks += 1;
    }, 1);
    const started = process.hrtime.bigint();
    const pending = ops.matmul(a, a);
    // Blocking here would mean the call already finished synchronously.
    const ticksWhenCalled = ticks;
    const product = await pending;
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
    clearInterval(timer);

    expect(product.data[0]).toBe(n);
    expect(ticksWhenCalled).toBe(0);
    // If the work had blocked the event loop, no interval callback could have run before
    // the promise settled (promise continuations run before timers).
    expect(ticks).toBeGreaterThan(0);
    expect(elapsedMs).toBeGreaterThan(1);
  });
});
