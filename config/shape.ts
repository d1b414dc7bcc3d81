// Runtime shapes of setting values. Each parser carries the shape of what it produces, so the
// settings table gives both the static type of an image's configuration (ImageConfig) and the check
// of a configuration object against it (values that enter without a parser, like a previous build's
// history, are checked too).

export interface Shape<T> {
  /** What the value should be, for messages ("string", "list of string", …). */
  readonly name: string;
  check(value: unknown): value is T;
}

export type ShapeOf<S> = S extends Shape<infer T> ? T : never;

function shape<T>(name: string, check: (value: unknown) => boolean): Shape<T> {
  return { name, check: check as (value: unknown) => value is T };
}

export const str: Shape<string> = shape("string", (v) => typeof v === "string");
export const bool: Shape<boolean> = shape("boolean", (v) => typeof v === "boolean");
export const num: Shape<number> = shape("number", (v) => typeof v === "number" && Number.isFinite(v));

export function oneOf<const V extends string>(values: readonly V[]): Shape<V> {
  return shape(values.join("|"), (v) => typeof v === "string" && (values as readonly string[]).includes(v));
}

export function listOf<T>(item: Shape<T>): Shape<T[]> {
  return shape(`list of ${item.name}`, (v) => Array.isArray(v) && v.every((x) => item.check(x)));
}

export function dictOf<T>(item: Shape<T>): Shape<Record<string, T>> {
  return shape(
    `map of ${item.name}`,
    (v) =>
      typeof v === "object" &&
      v !== null &&
      !Array.isArray(v) &&
      Object.values(v).every((x) => item.check(x)),
  );
}

export function tupleOf<A, B>(a: Shape<A>, b: Shape<B>): Shape<[A, B]> {
  return shape(
    `(${a.name}, ${b.name})`,
    (v) => Array.isArray(v) && v.length === 2 && a.check(v[0]) && b.check(v[1]),
  );
}

export function nullable<T>(s: Shape<T>): Shape<T | null> {
  return shape(`${s.name} or null`, (v) => v === null || s.check(v));
}

/** An object with exactly these fields. */
export function record<const F extends Record<string, Shape<unknown>>>(
  fields: F,
): Shape<{ -readonly [K in keyof F]: ShapeOf<F[K]> }> {
  const keys = Object.keys(fields);
  return shape(`{${keys.join(", ")}}`, (v) => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
    const o = v as Record<string, unknown>;
    return (
      Object.keys(o).length === keys.length &&
      keys.every((k) => Object.hasOwn(o, k) && (fields[k] as Shape<unknown>).check(o[k]))
    );
  });
}
