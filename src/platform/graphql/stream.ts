/**
 * A push-driven async iterator for GraphQL subscriptions. `setup` receives `push` and `end` and
 * returns its cleanup; the cleanup runs as soon as the client unsubscribes (`return()`), the
 * producer ends, or the server closes the socket, never later.
 */
export function pushStream<T>(setup: (push: (value: T) => void, end: () => void) => () => void): AsyncIterableIterator<T> {
  const queue: T[] = [];
  let waiting: ((result: IteratorResult<T>) => void) | undefined;
  let done = false;
  // eslint-disable-next-line prefer-const -- `finish` reads it, and `setup` may call `finish` before it is assigned (a const would be in its TDZ then)
  let cleanup: (() => void) | undefined;
  const finish = () => {
    if (done) return;
    done = true;
    cleanup?.();
    const w = waiting;
    waiting = undefined;
    w?.({ value: undefined, done: true });
  };
  const push = (value: T) => {
    if (done) return;
    if (waiting) {
      const w = waiting;
      waiting = undefined;
      w({ value, done: false });
    } else queue.push(value);
  };
  cleanup = setup(push, finish);
  if (done) cleanup();
  return {
    next(): Promise<IteratorResult<T>> {
      if (queue.length > 0) return Promise.resolve({ value: queue.shift()!, done: false });
      if (done) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => (waiting = resolve));
    },
    return(): Promise<IteratorResult<T>> {
      finish();
      return Promise.resolve({ value: undefined, done: true });
    },
    throw(err?: unknown): Promise<IteratorResult<T>> {
      finish();
      return Promise.reject(err);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
