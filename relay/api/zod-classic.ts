import { z } from 'zod';
import type * as core from 'zod/v4/core';

/**
 * Classic zod copies of the shared models, for the OpenAPI layer.
 *
 * shared/ builds its models with `zod/mini` so that the extension's bundles stay small. The
 * OpenAPI tooling (@hono/zod-openapi, @asteasolutions/zod-to-openapi) is written for classic zod:
 * `.openapi()` is a classic prototype method, and the generator calls classic methods (`meta()`,
 * `minLength`, `format`, …) on every schema it walks, nested ones included. A mini schema has none
 * of them.
 *
 * Mini and classic are two faces of one core: `ZodMiniObject` and `ZodObject` both initialise
 * `$ZodObject` from the same kind of `def`, and parsing is the core's alone. So the classic copy of
 * a mini schema is the classic constructor of the same kind (`ZodMiniX` → `ZodX`) applied to a copy
 * of the same `def`, with every schema inside it (fields, elements, options, inner types …) copied
 * the same way. Checks are core checks shared by both faces and are kept as they are. The copy
 * parses exactly as the shared model does; the model itself is not touched.
 */

const copies = new WeakMap<core.$ZodType, z.ZodType>();

/** Where a core `def` holds other schemas: one schema, a list (some entries may be literals), a shape, a lazy getter. */
const ONE = ['innerType', 'element', 'catchall', 'in', 'out', 'keyType', 'valueType', 'rest', 'left', 'right', 'input', 'output'];
const LIST = ['options', 'items', 'parts'];

function isSchema(value: unknown): value is core.$ZodType {
  return typeof value === 'object' && value !== null && '_zod' in value;
}

function copyInside(key: string, value: unknown): unknown {
  if (ONE.includes(key) && isSchema(value)) return toClassic(value);
  if (LIST.includes(key) && Array.isArray(value)) return value.map((item: unknown) => (isSchema(item) ? toClassic(item) : item));
  if (key === 'shape' && typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([field, inner]) => [field, isSchema(inner) ? toClassic(inner) : inner]));
  }
  if (key === 'getter' && typeof value === 'function') {
    const getter = value as () => core.$ZodType;
    return () => toClassic(getter());
  }
  return value;
}

/** A zod/mini schema as a classic one (copied once, then remembered); classic schemas are returned as they are. */
export function toClassic(schema: core.$ZodType): z.ZodType {
  if (schema instanceof z.ZodType) return schema;
  const known = copies.get(schema);
  if (known !== undefined) return known;
  const miniName = schema._zod.constr.name;
  const Classic: unknown = (z as unknown as Record<string, unknown>)[miniName.replace(/^ZodMini/, 'Zod')];
  if (!miniName.startsWith('ZodMini') || typeof Classic !== 'function') {
    throw new Error(`relay/api/zod-classic: no classic zod counterpart for ${miniName}`);
  }
  // Property descriptors, not a spread: some defs compute a field in a getter (a default's value is
  // cloned on every read), and the copy must go on doing so. Only the fields that hold schemas are replaced.
  const source = schema._zod.def as unknown as Record<string, unknown>;
  const def: Record<string, unknown> = Object.defineProperties({}, Object.getOwnPropertyDescriptors(source));
  for (const key of [...ONE, ...LIST, 'shape', 'getter']) {
    if (!(key in source)) continue;
    const value = source[key];
    const copied = copyInside(key, value);
    if (copied !== value) Object.defineProperty(def, key, { value: copied, enumerable: true, writable: true, configurable: true });
  }
  const copy = new (Classic as new (def: unknown) => z.ZodType)(def);
  copies.set(schema, copy);
  return copy;
}

/**
 * A shared object model as a classic `ZodObject`, so that `.extend()`, `.strict()` and `.openapi()`
 * work on it. Its type keeps the model's shape (the field types say mini, the fields at run time
 * are classic copies, which have every mini method too): inferred input and output types, optional
 * keys included, are the model's.
 */
export function classicObject<Shape extends core.$ZodShape, Config extends core.$ZodObjectConfig>(
  model: core.$ZodObject<Shape, Config>,
): z.ZodObject<Shape, Config> {
  return toClassic(model) as unknown as z.ZodObject<Shape, Config>;
}
