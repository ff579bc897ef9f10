/**
 * A small strict parser of the Prometheus text exposition format (0.0.4): every sample
 * must belong to a family announced by HELP and TYPE lines, names and labels must be
 * well-formed, values must parse. Throws on anything else.
 */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
export interface PromFamily {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'summary' | 'histogram' | 'untyped';
  samples: PromSample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE_RE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: (-?\\d+))?$`);
const LABEL_RE = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/;

function parseValue(s: string): number {
  // Prometheus parses these case-insensitively (Go's ParseFloat); prom-client writes "Nan".
  if (/^\+?inf$/i.test(s)) return Infinity;
  if (/^-inf$/i.test(s)) return -Infinity;
  if (/^nan$/i.test(s)) return NaN;
  const v = Number(s);
  if (s.trim() === '' || Number.isNaN(v)) throw new Error(`bad sample value ${s}`);
  return v;
}

function parseLabels(s: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  let rest = s ?? '';
  for (let i = 0; rest.length > 0 && i < 1000; i++) {
    const m = LABEL_RE.exec(rest);
    if (!m) throw new Error(`bad labels: ${s}`);
    if (m[1]! in out) throw new Error(`duplicate label ${m[1]}`);
    out[m[1]!] = m[2]!.replace(/\\(.)/g, (_, ch: string) => (ch === 'n' ? '\n' : ch));
    rest = rest.slice(m[0].length);
  }
  return out;
}

export function parsePrometheus(text: string): Map<string, PromFamily> {
  const families = new Map<string, PromFamily>();
  let current: PromFamily | undefined;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m: RegExpExecArray | null;
    if ((m = new RegExp(`^# HELP (${NAME}) (.*)$`).exec(line))) {
      if (families.has(m[1]!)) throw new Error(`family ${m[1]} announced twice`);
      current = { name: m[1]!, help: m[2]!, type: 'untyped', samples: [] };
      families.set(current.name, current);
    } else if ((m = new RegExp(`^# TYPE (${NAME}) (counter|gauge|summary|histogram|untyped)$`).exec(line))) {
      if (!current || current.name !== m[1]) throw new Error(`TYPE without HELP for ${m[1]}`);
      current.type = m[2] as PromFamily['type'];
    } else if (line.startsWith('#')) {
      throw new Error(`unexpected comment: ${line}`);
    } else if ((m = SAMPLE_RE.exec(line))) {
      const name = m[1]!;
      if (!current) throw new Error(`sample before any family: ${line}`);
      const okName =
        name === current.name ||
        ((current.type === 'summary' || current.type === 'histogram') && [`${current.name}_sum`, `${current.name}_count`, `${current.name}_bucket`].includes(name));
      if (!okName) throw new Error(`sample ${name} outside its family ${current.name}`);
      current.samples.push({ name, labels: parseLabels(m[2]), value: parseValue(m[3]!) });
    } else {
      throw new Error(`unparseable line: ${line}`);
    }
  }
  return families;
}
