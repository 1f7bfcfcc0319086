/**
 * A strict parser of the Prometheus text format 0.0.4, for tests: it rejects what Prometheus
 * would reject (bad names, bad escapes, samples without a TYPE, duplicate series, histograms
 * whose buckets are not cumulative or disagree with `_count`), and finds samples by labels.
 *
 * @module
 */

/** One sample line. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A parsed exposition. */
export interface Exposition {
  readonly types: ReadonlyMap<string, string>;
  readonly help: ReadonlyMap<string, string>;
  readonly samples: readonly Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

/** Parses `text`; throws with the line number on anything malformed. */
export function parsePrometheus(text: string): Exposition {
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const samples: Sample[] = [];
  const seen = new Set<string>();
  if (!text.endsWith("\n")) throw new Error("The exposition must end with a newline");
  const lines = text.slice(0, -1).split("\n");
  lines.forEach((line, index) => {
    const where = `line ${index + 1} '${line}'`;
    if (line.startsWith("#")) {
      const match = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!match) return; // A plain comment.
      const [, keyword, name = "", rest = ""] = match;
      if (!NAME.test(name)) throw new Error(`Bad metric name at ${where}`);
      if (keyword === "TYPE") {
        if (!TYPES.has(rest)) throw new Error(`Bad type at ${where}`);
        if (types.has(name)) throw new Error(`Second TYPE at ${where}`);
        types.set(name, rest);
      } else {
        help.set(name, unescape(rest, false, where));
      }
      return;
    }
    if (line.trim() === "") throw new Error(`Empty line at ${where}`);
    const sample = parseSample(line, where);
    const family = familyOf(sample.name, types);
    if (!family) throw new Error(`Sample without TYPE at ${where}`);
    const id = `${sample.name}{${
      Object.entries(sample.labels).sort().map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(",")
    }}`;
    if (seen.has(id)) throw new Error(`Duplicate series at ${where}`);
    seen.add(id);
    samples.push(sample);
  });
  checkHistograms({ types, help, samples });
  return { types, help, samples };
}

function familyOf(name: string, types: ReadonlyMap<string, string>): string | undefined {
  if (types.has(name)) return name;
  const base = name.replace(/_(bucket|sum|count)$/, "");
  return types.get(base) === "histogram" || types.get(base) === "summary" ? base : undefined;
}

function parseSample(line: string, where: string): Sample {
  const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
  if (!nameMatch) throw new Error(`Bad sample name at ${where}`);
  const name = nameMatch[0];
  let rest = line.slice(name.length);
  const labels: Record<string, string> = {};
  if (rest.startsWith("{")) {
    rest = rest.slice(1);
    while (!rest.startsWith("}")) {
      const labelMatch = LABEL_NAME.exec(rest);
      if (!labelMatch) throw new Error(`Bad label name at ${where}`);
      const label = labelMatch[0];
      rest = rest.slice(label.length);
      if (!rest.startsWith('="')) throw new Error(`Expected =" at ${where}`);
      rest = rest.slice(2);
      let raw = "";
      while (true) {
        const char = rest[0];
        if (char === undefined) throw new Error(`Unterminated label value at ${where}`);
        if (char === '"') break;
        if (char === "\\") {
          raw += rest.slice(0, 2);
          rest = rest.slice(2);
        } else {
          raw += char;
          rest = rest.slice(1);
        }
      }
      rest = rest.slice(1);
      if (label in labels) throw new Error(`Duplicate label '${label}' at ${where}`);
      labels[label] = unescape(raw, true, where);
      if (rest.startsWith(",")) rest = rest.slice(1);
      else if (!rest.startsWith("}")) throw new Error(`Expected , or } at ${where}`);
    }
    rest = rest.slice(1);
  }
  const valueMatch = /^ (\S+)( -?\d+)?$/.exec(rest);
  if (!valueMatch) throw new Error(`Bad value at ${where}`);
  return { name, labels, value: parseValue(valueMatch[1]!, where) };
}

function parseValue(text: string, where: string): number {
  if (text === "NaN") return NaN;
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) {
    throw new Error(`Bad number at ${where}`);
  }
  return Number(text);
}

function unescape(text: string, label: boolean, where: string): string {
  return text.replace(/\\(.)/g, (_, char: string) => {
    if (char === "\\") return "\\";
    if (char === "n") return "\n";
    if (char === '"' && label) return '"';
    throw new Error(`Bad escape '\\${char}' at ${where}`);
  });
}

/** Buckets are cumulative, end with +Inf, and +Inf equals _count, for every series. */
function checkHistograms(exposition: Exposition): void {
  for (const [family, type] of exposition.types) {
    if (type !== "histogram") continue;
    const groups = new Map<string, Sample[]>();
    for (const sample of exposition.samples) {
      if (sample.name !== `${family}_bucket`) continue;
      const { le: _, ...rest } = sample.labels;
      const key = JSON.stringify(Object.entries(rest).sort());
      groups.set(key, [...(groups.get(key) ?? []), sample]);
    }
    for (const [key, buckets] of groups) {
      let previousBound = -Infinity;
      let previousCount = 0;
      for (const bucket of buckets) {
        const bound = parseValue(bucket.labels.le ?? "", `${family}{${key}}`);
        if (!(bound > previousBound)) throw new Error(`Buckets of ${family} not increasing`);
        if (bucket.value < previousCount) throw new Error(`Buckets of ${family} not cumulative`);
        previousBound = bound;
        previousCount = bucket.value;
      }
      if (previousBound !== Infinity) throw new Error(`${family}{${key}} has no +Inf bucket`);
      const labels = Object.fromEntries(JSON.parse(key));
      const count = find(exposition, `${family}_count`, labels, true);
      if (count?.value !== previousCount) {
        throw new Error(`${family}{${key}}: +Inf bucket ${previousCount} != _count`);
      }
      if (!find(exposition, `${family}_sum`, labels, true)) {
        throw new Error(`${family}{${key}} has no _sum`);
      }
    }
  }
}

/** The sample named `name` whose labels include `labels` (all of them when `exact`). */
export function find(
  exposition: Exposition,
  name: string,
  labels: Readonly<Record<string, string>> = {},
  exact = false,
): Sample | undefined {
  return exposition.samples.find((sample) =>
    sample.name === name &&
    Object.entries(labels).every(([key, value]) => sample.labels[key] === value) &&
    (!exact || Object.keys(sample.labels).length === Object.keys(labels).length)
  );
}

/** Every sample named `name` whose labels include `labels`. */
export function findAll(
  exposition: Exposition,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): Sample[] {
  return exposition.samples.filter((sample) =>
    sample.name === name &&
    Object.entries(labels).every(([key, value]) => sample.labels[key] === value)
  );
}

/** The value of the sample, or undefined when there is none. */
export function valueOf(
  exposition: Exposition,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number | undefined {
  return find(exposition, name, labels)?.value;
}
