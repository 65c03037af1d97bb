/**
 * A metric's child for one label value, made once: prom-client's `labels()` validates and hashes its
 * arguments on every call, which the call path and the answer path would pay per message.
 */
export function labelChildren<Child>(metric: { labels(value: string): Child }): (value: string) => Child {
  const children = new Map<string, Child>();
  return (value) => {
    let child = children.get(value);
    if (child === undefined) children.set(value, (child = metric.labels(value)));
    return child;
  };
}
