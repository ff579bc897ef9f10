import { stat } from 'node:fs/promises';
import { z } from 'zod';
import { EngineError } from '../errors.js';
import { hashSecret, newUserToken, parseUserToken, verifySecret } from './tokens.js';
import { readPrivateFileIfExists, writePrivateFile } from './private-file.js';
import { userNameSchema } from './names.js';

/**
 * The users file (`auth.usersFile`): JSON, mode 0600, tokens stored as scrypt hashes
 * only. Managed by `sluice auth add-user|token`; the master re-reads it when it changes.
 */
const tokenRecordSchema = z.object({ id: z.string().regex(/^[0-9a-f]{16}$/), hash: z.string().startsWith('scrypt$'), createdAt: z.number().int() }).strict();
const userRecordSchema = z.object({ admin: z.boolean().default(false), tokens: z.array(tokenRecordSchema).default([]) }).strict();
export const usersDocSchema = z
  .object({ version: z.literal(1), users: z.record(userNameSchema, userRecordSchema) })
  .strict();

export type UsersDoc = z.infer<typeof usersDocSchema>;

export interface AuthenticatedUser {
  name: string;
  admin: boolean;
}

const EMPTY: UsersDoc = { version: 1, users: {} };

export function parseUsersDoc(text: string, path: string): UsersDoc {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new EngineError('CONFIG_INVALID', `users file ${path} is not valid JSON`, { cause: err });
  }
  const r = usersDocSchema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0]!;
    throw new EngineError('CONFIG_INVALID', `users file ${path}: ${first.path.join('.') || '(root)'}: ${first.message}`);
  }
  return r.data;
}

export async function readUsersDoc(path: string): Promise<UsersDoc> {
  const text = await readPrivateFileIfExists(path, 'users file');
  return text === undefined ? structuredClone(EMPTY) : parseUsersDoc(text, path);
}

async function writeUsersDoc(path: string, doc: UsersDoc): Promise<void> {
  await writePrivateFile(path, `${JSON.stringify(doc, null, 2)}\n`);
}

/** Adds a user (no token yet). BAD_REQUEST if the name is invalid or taken. */
export async function addUser(path: string, name: string, options: { admin?: boolean } = {}): Promise<void> {
  const n = userNameSchema.safeParse(name);
  if (!n.success) throw new EngineError('BAD_REQUEST', `invalid user name ${JSON.stringify(name)}: ${n.error.issues[0]!.message}`);
  const doc = await readUsersDoc(path);
  if (doc.users[name]) throw new EngineError('BAD_REQUEST', `user ${name} already exists in ${path}`);
  doc.users[name] = { admin: options.admin ?? false, tokens: [] };
  await writeUsersDoc(path, doc);
}

/** Issues a new token for an existing user; the clear token is returned once and never stored. */
export async function issueToken(path: string, name: string): Promise<string> {
  const doc = await readUsersDoc(path);
  const user = doc.users[name];
  if (!user) throw new EngineError('BAD_REQUEST', `no user ${JSON.stringify(name)} in ${path}; add it with: sluice auth add-user ${name}`);
  const t = newUserToken();
  user.tokens.push({ id: t.tokenId, hash: await hashSecret(t.secret), createdAt: Date.now() });
  await writeUsersDoc(path, doc);
  return t.token;
}

/** Removes every token of a user (the user stays). */
export async function revokeTokens(path: string, name: string): Promise<number> {
  const doc = await readUsersDoc(path);
  const user = doc.users[name];
  if (!user) throw new EngineError('BAD_REQUEST', `no user ${JSON.stringify(name)} in ${path}`);
  const n = user.tokens.length;
  user.tokens = [];
  await writeUsersDoc(path, doc);
  return n;
}

/** How often the master looks at the users file's mtime: new tokens work within this. */
const RELOAD_CHECK_MS = 1000;

/**
 * The master's view of the users file: verifies bearer tokens. scrypt is costly by
 * design, so a verified token is remembered (by its SHA-256) until the file changes.
 */
/** An unknown token id triggers a file check at most this often. */
const UNKNOWN_ID_RECHECK_MS = 100;

export class UsersRegistry {
  #doc: UsersDoc = structuredClone(EMPTY);
  #byTokenId = new Map<string, { user: string; hash: string }>();
  #verified = new Map<string, AuthenticatedUser>();
  #mtimeMs = -1;
  #checkedAt = 0;
  #reloading: Promise<void> | undefined;

  constructor(readonly path: string, private readonly maxCached = 10_000) {}

  async load(): Promise<this> {
    await this.#reload(true);
    return this;
  }

  async #reload(force: boolean): Promise<void> {
    const now = Date.now();
    if (!force && now - this.#checkedAt < RELOAD_CHECK_MS) return;
    this.#checkedAt = now;
    let mtimeMs = 0;
    try {
      mtimeMs = (await stat(this.path)).mtimeMs;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (!force && mtimeMs === this.#mtimeMs) return;
    const doc = await readUsersDoc(this.path);
    this.#doc = doc;
    this.#mtimeMs = mtimeMs;
    this.#byTokenId = new Map();
    for (const [user, rec] of Object.entries(doc.users)) for (const t of rec.tokens) this.#byTokenId.set(t.id, { user, hash: t.hash });
    this.#verified.clear();
  }

  /** Re-reads the file if it changed (at most once per RELOAD_CHECK_MS; concurrent callers share one read). */
  async refresh(): Promise<void> {
    // A check already in flight (started by cached()) must be awaited, not skipped.
    if (this.#reloading) return this.#reloading;
    if (Date.now() - this.#checkedAt < RELOAD_CHECK_MS) return;
    this.#reloading ??= this.#reload(false).finally(() => (this.#reloading = undefined));
    await this.#reloading;
  }

  get userCount(): number {
    return Object.keys(this.#doc.users).length;
  }

  /**
   * The hot path: a token verified before, with no await (a stale file check is started
   * in the background; a reload clears this cache, so a revoked token stops within ~1 s).
   */
  cached(digest: string): AuthenticatedUser | undefined {
    if (Date.now() - this.#checkedAt >= RELOAD_CHECK_MS) void this.refresh().catch(() => undefined);
    return this.#verified.get(digest);
  }

  /** The user a token belongs to, or undefined (unknown id, wrong secret, malformed). */
  async verify(token: string, digest: string): Promise<AuthenticatedUser | undefined> {
    await this.refresh();
    const hit = this.#verified.get(digest);
    if (hit) return hit;
    const parsed = parseUserToken(token);
    if (!parsed) return undefined;
    let rec = this.#byTokenId.get(parsed.tokenId);
    if (!rec && Date.now() - this.#checkedAt >= UNKNOWN_ID_RECHECK_MS) {
      // A token issued a moment ago: look at the file now rather than at the next check
      // (a stat, rate-limited, so unknown ids cannot make the master re-read it in a loop).
      this.#reloading ??= this.#reload(true).finally(() => (this.#reloading = undefined));
      await this.#reloading;
      rec = this.#byTokenId.get(parsed.tokenId);
    }
    if (!rec) return undefined;
    if (!(await verifySecret(parsed.secret, rec.hash))) return undefined;
    const user: AuthenticatedUser = { name: rec.user, admin: this.#doc.users[rec.user]?.admin ?? false };
    if (this.#verified.size >= this.maxCached) this.#verified.delete(this.#verified.keys().next().value!);
    this.#verified.set(digest, user);
    return user;
  }
}
