import { Readable } from 'node:stream';
import { prefetch } from '../../lib/data/prefetch';

describe('prefetch', () => {
  it('prepares up to `depth` items ahead of the consumer, never more', async () => {
    let produced = 0;
    async function* source() {
      for (let i = 0; i < 20; i++) {
        produced += 1;
        yield i;
      }
    }
    const seen: number[] = [];
    let maxAhead = 0;
    for await (const item of prefetch(source(), 3)) {
      await new Promise((resolve) => setTimeout(resolve, 2)); // the consumer is slow
      maxAhead = Math.max(maxAhead, produced - (item + 1));
      seen.push(item);
    }
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(maxAhead).toBe(3);
  });

  it('surfaces a source error at the item where it happened, from async and plain generators', async () => {
    async function* failingAsync() {
      yield* [0, 1, 2];
      throw new Error('bad file');
    }
    function* failingSync() {
      yield* [0, 1, 2];
      throw new Error('bad file');
    }
    for (const source of [failingAsync(), failingSync()]) {
      const seen: number[] = [];
      await expect(
        (async () => {
          for await (const item of prefetch(source, 2)) seen.push(item);
        })(),
      ).rejects.toThrow('bad file');
      expect(seen).toEqual([0, 1, 2]);
    }
  });

  it('accepts plain iterables and Node Readable streams', async () => {
    const fromArray: number[] = [];
    for await (const item of prefetch([1, 2, 3], 2)) fromArray.push(item);
    expect(fromArray).toEqual([1, 2, 3]);
    const fromStream: number[] = [];
    for await (const item of prefetch(Readable.from([4, 5, 6]) as AsyncIterable<number>, 2)) fromStream.push(item);
    expect(fromStream).toEqual([4, 5, 6]);
    await expect(prefetch([1], 0).next()).rejects.toThrow(RangeError);
  });

  it('lets the consumer leave while items it asked ahead for are still pending', async () => {
    const closed: string[] = [];
    async function* source(name: string, silent: boolean) {
      try {
        yield 1;
        if (silent) await new Promise(() => undefined);
        yield 2;
      } finally {
        closed.push(name);
      }
    }
    const firstOf = async (items: AsyncIterable<number>) => {
      for await (const item of items) return item;
    };
    // Leaving does not wait for an item the source never sends (this would time out).
    expect(await firstOf(prefetch(source('silent', true), 2))).toBe(1);
    // A source that does send it is still closed, once the item asked ahead for is in.
    expect(await firstOf(prefetch(source('finite', false), 2))).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toEqual(['finite']);
  });

  it('says what it expected of a source that is not iterable', async () => {
    await expect(prefetch(null as never, 2).next()).rejects.toThrow(
      'Expected batches as an iterable or async iterable (an array, a generator, a stream) but received null',
    );
    await expect(prefetch([1], '2' as never).next()).rejects.toThrow(
      'Expected a positive integer for depth but received "2"',
    );
  });
});
