/**
 * The SQL a PostgreSQL sink sends, built once per sink: identifiers quoted, values always
 * bound as parameters (never spliced into the text).
 */

/** PostgreSQL's bind-parameter limit per statement (a 16-bit count in the protocol). */
export const MAX_BIND_PARAMS = 65_535;

/** `"name"`, with embedded quotes doubled. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** `schema.table` or `table` → quoted parts (a name holding a dot must be written `"a.b"`). */
export function quoteQualified(name: string): string {
  const parts: string[] = [];
  const re = /"((?:[^"]|"")+)"|([^."]+)/y;
  let i = 0;
  while (i < name.length) {
    re.lastIndex = i;
    const m = re.exec(name);
    if (!m) throw new Error(`cannot parse the table name ${JSON.stringify(name)}`);
    parts.push(m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2]!);
    i = re.lastIndex;
    if (i < name.length) {
      if (name[i] !== '.') throw new Error(`cannot parse the table name ${JSON.stringify(name)}`);
      i++;
    }
  }
  if (parts.length < 1 || parts.length > 2) throw new Error(`table name ${JSON.stringify(name)} must be table or schema.table`);
  return parts.map(quoteIdent).join('.');
}

export interface SinkSql {
  /** The INSERT for `rows` rows (cached per row count). */
  insert(rows: number): string;
  /** Rows per INSERT statement: the configured batch, capped by the bind-parameter limit. */
  readonly rowsPerStatement: number;
  /** Plans the INSERT without running it: fails on a missing table/column or a key without a unique index. */
  readonly probe: string;
  /** The progress table's quoted name (for to_regclass). */
  readonly progressName: string;
  readonly createProgress: string;
  readonly claim: string;
  readonly lockProgress: string;
  readonly advance: string;
}

export function buildSinkSql(o: { table: string; columns: string[]; key?: string[] | undefined; progressTable: string; batchRows: number }): SinkSql {
  const table = quoteQualified(o.table);
  const progress = quoteQualified(o.progressTable);
  const cols = o.columns.map(quoteIdent).join(', ');
  const n = o.columns.length;
  let conflict = '';
  if (o.key && o.key.length > 0) {
    const rest = o.columns.filter((c) => !o.key!.includes(c));
    conflict = ` ON CONFLICT (${o.key.map(quoteIdent).join(', ')}) ` + (rest.length === 0 ? 'DO NOTHING' : `DO UPDATE SET ${rest.map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`).join(', ')}`);
  }
  const rowsPerStatement = Math.max(1, Math.min(o.batchRows, Math.floor(MAX_BIND_PARAMS / n)));
  const cache = new Map<number, string>();
  const insert = (rows: number): string => {
    let text = cache.get(rows);
    if (text !== undefined) return text;
    const values: string[] = new Array<string>(rows);
    let p = 1;
    for (let r = 0; r < rows; r++) {
      const one: string[] = new Array<string>(n);
      for (let c = 0; c < n; c++) one[c] = `$${p++}`;
      values[r] = `(${one.join(', ')})`;
    }
    text = `INSERT INTO ${table} (${cols}) VALUES ${values.join(', ')}${conflict}`;
    // only the full-size and the probe statements recur; tail sizes vary and are not kept
    if (rows === rowsPerStatement || rows === 1) cache.set(rows, text);
    return text;
  };
  return {
    insert,
    rowsPerStatement,
    probe: `EXPLAIN ${insert(1)}`,
    progressName: progress,
    createProgress:
      `CREATE TABLE IF NOT EXISTS ${progress} (app text NOT NULL, task text NOT NULL, epoch bigint NOT NULL, ` +
      `last_t bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (app, task))`,
    // Takes the row for this epoch unless a newer epoch holds it (then no row comes back).
    claim:
      `INSERT INTO ${progress} AS p (app, task, epoch, last_t) VALUES ($1, $2, $3, -1) ` +
      `ON CONFLICT (app, task) DO UPDATE SET epoch = EXCLUDED.epoch, updated_at = now() WHERE p.epoch <= EXCLUDED.epoch RETURNING epoch, last_t`,
    lockProgress: `SELECT epoch, last_t FROM ${progress} WHERE app = $1 AND task = $2 FOR UPDATE`,
    advance: `UPDATE ${progress} SET epoch = $3, last_t = $4, updated_at = now() WHERE app = $1 AND task = $2`,
  };
}
