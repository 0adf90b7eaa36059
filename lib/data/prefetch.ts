/**
 * Reads ahead of the consumer: while the consumer works on item k, the producer prepares
 * items up to k + depth, and never more (backpressure). Errors of the source surface at the
 * item where they happened.
 */
export async function* prefetch<T>(source: AsyncIterable<T> | Iterable<T>, depth: number): AsyncGenerator<T> {
  if (!Number.isInteger(depth) || depth < 1)
    throw new RangeError(`Expected a positive integer for depth but received ${depth}`);
  const iterator = (Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]()) as
    AsyncIterator<T> | Iterator<T>;
  const queue: Array<Promise<IteratorResult<T>>> = [];
  const fill = () => {
    while (queue.length < depth) {
      const next = Promise.resolve(iterator.next());
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
    await iterator.return?.();
  }
}
