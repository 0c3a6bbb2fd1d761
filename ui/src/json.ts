// JSON that keeps Python's float/int distinction. The server writes 0.0 and 0 differently, and
// raw parts of a document (parameters, decision tables and their cases) are saved -- and
// fingerprinted -- as written; a JavaScript number cannot tell 0.0 from 0. So floats with an
// integral value are remembered when a reply is parsed (JSON.parse's source text access) and
// written back with their ".0"; objects the editor copies carry the marks along (copyFloatMarks).
// A browser without source text access parses as plain JSON: such values then save as integers.

const FLOAT_KEYS = new WeakMap<object, Set<string>>();
const FLOAT_SENTINEL = "\u2063float\u2063"; // invisible separators: never typed into a document
const SENTINEL_PATTERN = new RegExp(`"${FLOAT_SENTINEL}(-?\\d+\\.0)"`, "g");

/** Write ``holder[key]`` as a float (``1.0``) even when its value is integral. */
export function markFloat(holder: object, key: string): void {
  mark(holder, key);
}

function mark(holder: object, key: string): void {
  let keys = FLOAT_KEYS.get(holder);
  if (!keys) FLOAT_KEYS.set(holder, (keys = new Set()));
  keys.add(key);
}

export function isFloatMarked(holder: object, key: string): boolean {
  return FLOAT_KEYS.get(holder)?.has(key) ?? false;
}

export function parseJson(text: string): unknown {
  return JSON.parse(text, function (this: object, key: string, value: unknown, context?: { source?: string }) {
    if (typeof value === "number" && Number.isInteger(value) && context?.source && /[.eE]/.test(context.source)) {
      mark(this, key);
    }
    return value;
  });
}

export function toJson(value: unknown, indent?: number): string {
  const text = JSON.stringify(
    value,
    function (this: object, key: string, v: unknown) {
      if (typeof v === "number" && Number.isInteger(v) && Math.abs(v) < 1e16 && isFloatMarked(this, key)) {
        return `${FLOAT_SENTINEL}${v}.0`;
      }
      return v;
    },
    indent,
  );
  return text.replace(SENTINEL_PATTERN, "$1");
}

/** ``to`` with the float marks of ``from`` (keys renamed by ``rename``; dropped where it gives undefined). */
export function copyFloatMarks<T extends object>(from: object | undefined, to: T, rename: (key: string) => string | undefined = (k) => k): T {
  const keys = from ? FLOAT_KEYS.get(from) : undefined;
  if (keys) {
    for (const key of keys) {
      const renamed = rename(key);
      if (renamed !== undefined && renamed in to) mark(to, renamed);
    }
  }
  return to;
}
