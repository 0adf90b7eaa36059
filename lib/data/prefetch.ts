/**
 * Reads ahead of the consumer: while the consumer works on item k, the producer prepares
 * items up to k + depth, and never more (backpressure). Errors of the source surface at the
 * item where they happened.
 */
export async function* prefetch<T>(source: AsyncIterable<T> | Iterable<T>, depth: number): AsyncGenerator<T> {
  if (!Number.isInteger(depth) || depth < 1)
    throw new RangeError(`Expected a positive integer for depth but received ${JSON.stringify(depth)}`);
  if (typeof source !== 'object' || source === null || !(Symbol.asyncIterator in source || Symbol.iterator in source))
    throw new TypeError(
      `Expected batches as an iterable or async iterable (an array, a generator, a stream) but received ${source === null ? 'null' : typeof source}`,
    );
  const iterator = (Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]()) as
    AsyncIterator<T> | Iterator<T>;
  const queue: Array<Promise<IteratorResult<T>>> = [];
  let failed = false;
  const fill = () => {
    while (queue.length < depth && !failed) {
      let next: Promise<IteratorResult<T>>;
      // A synchronous source throws from next() itself: queued like an async one's rejection,
      // so that the items before it still reach the consumer first.
      try {
        next = Promise.resolve(iterator.next());
      } catch (error) {
        next = Promise.reject(error as Error);
        failed = true;
      }
      next.catch(() => undefined); // surfaced when awaited below
      queue.push(next);
    }
  };
  try {
    fill();
    for (;;) {
      const next = queue.shift()!;
      fill(); // ask for the next `depth` items before the consumer gets this one
      const result = await next;
      if (result.done) return;
      yield result.value;
    }
  } finally {
    // An async generator runs return() only after the next() calls already made: waiting
    // for it would wait for items nobody takes, forever if the source never sends them.
    const closing = Promise.resolve(iterator.return?.());
    if (queue.length === 0) await closing;
    else closing.catch(() => undefined);
  }
}
