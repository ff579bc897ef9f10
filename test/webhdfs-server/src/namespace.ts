// The NameNode's namespace: inodes in memory, file bytes on disk (one data file per fileId,
// so rename keeps the data and overwrite gets a fresh file). Every method is synchronous,
// which makes each namespace operation atomic just as a single NN transaction is.
import { randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { errors, HdfsError } from './errors.js';
import type { RenameOption } from './params.js';

export type InodeType = 'FILE' | 'DIRECTORY';

/** Under-construction state: the lease of the writer (or of a truncate in recovery). */
export interface Lease {
  holder: string;
  clientMachine: string;
  /** The DataNode upload holding the lease, if any. */
  writer: OpenFile | null;
  /** Epoch ms of the last renewal; only orphaned leases (no live writer) age. */
  lastRenewed: number;
  /** Set while a TRUNCATE's block recovery runs (truncateRecoveryMs). */
  recoveryUntil?: number;
}

export interface Inode {
  id: number;
  type: InodeType;
  name: string;
  parent: Inode | null;
  children: Map<string, Inode> | null;
  permission: number;
  owner: string;
  group: string;
  accessTime: number;
  modificationTime: number;
  length: number;
  blockSize: number;
  replication: number;
  lease: Lease | null;
}

/** A DataNode-side output stream: bytes go to `dataFile` at `startOffset + bytes`. */
export interface OpenFile {
  inodeId: number;
  path: string;
  holder: string;
  clientMachine: string;
  dataFile: string;
  startOffset: number;
  bytes: number;
  /** True while the DN upload request is still running (its DFSClient renews the lease). */
  live: boolean;
  /** The lease was taken away (overwrite, delete, recovery): further bytes are dropped. */
  revoked: boolean;
  closed: boolean;
}

export interface Caller {
  user: string;
  /** The address the NN sees: the DN's for step-2 writes, the HTTP client's otherwise. */
  clientMachine: string;
}

export interface NamespaceConfig {
  dataDir: string;
  blockSize: number;
  replication: number;
  superuser: string;
  supergroup: string;
  enforcePermissions: boolean;
  /** Extra group memberships; every user is also in a group named like the user. */
  groups: Record<string, string[]>;
  softLeaseMs: number;
  hardLeaseMs: number;
  truncateRecoveryMs: number;
  rootPermission: number;
  nnHostName: string;
}

export interface CreateOptions {
  permission: number;
  overwrite: boolean;
  createParent: boolean;
  replication: number | null;
  blockSize: number | null;
}

const R = 4;
const W = 2;
const X = 1;
const ACTION_NAME: Record<number, string> = {
  [R]: 'READ', [W]: 'WRITE', [X]: 'EXECUTE', [R | X]: 'READ_EXECUTE', [R | W | X]: 'ALL', [R | W]: 'READ_WRITE',
};

export function permString(p: number): string {
  return p.toString(8);
}

function modeString(n: Inode): string {
  const p = n.permission;
  const rwx = (b: number) => (b & 4 ? 'r' : '-') + (b & 2 ? 'w' : '-') + (b & 1 ? 'x' : '-');
  let s = (n.type === 'DIRECTORY' ? 'd' : '-') + rwx((p >> 6) & 7) + rwx((p >> 3) & 7) + rwx(p & 7);
  if (p & 0o1000) s = s.slice(0, 9) + (p & 1 ? 't' : 'T');
  return s;
}

/** UTF-8 byte order, which is how HDFS sorts directory entries (byte[] names). */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function components(path: string): string[] {
  return path.split('/').filter((p) => p !== '');
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export interface FileStatusJson {
  accessTime: number;
  blockSize: number;
  childrenNum: number;
  fileId: number;
  group: string;
  length: number;
  modificationTime: number;
  owner: string;
  pathSuffix: string;
  permission: string;
  replication: number;
  storagePolicy: number;
  type: InodeType;
}

export class Namespace {
  readonly root: Inode;
  private readonly byId = new Map<number, Inode>();
  /** Leased inodes, for lazy hard-limit expiry. */
  private readonly leased = new Set<Inode>();
  // 16385 is INodeId.ROOT_INODE_ID in HDFS.
  private nextId = 16385;
  /** Reads the safe-mode switch (owned by the fault switches). */
  safeModeProbe: () => boolean = () => false;
  private clientSeq = 0;

  constructor(readonly cfg: NamespaceConfig) {
    fs.mkdirSync(join(cfg.dataDir, 'blocks'), { recursive: true });
    const now = Date.now();
    this.root = this.newInode('DIRECTORY', '', null, cfg.rootPermission, cfg.superuser, cfg.supergroup, now);
  }

  /** A DFSClient name like the one a DataNode's per-request client gets. */
  newClientName(): string {
    return `DFSClient_NONMAPREDUCE_${randomInt(2 ** 31 - 1)}_${++this.clientSeq}`;
  }

  dataFileFor(id: number): string {
    return join(this.cfg.dataDir, 'blocks', `blk_${id}`);
  }

  private newInode(
    type: InodeType, name: string, parent: Inode | null, permission: number, owner: string, group: string,
    now: number,
  ): Inode {
    const n: Inode = {
      id: this.nextId++, type, name, parent, children: type === 'DIRECTORY' ? new Map() : null, permission,
      owner, group, accessTime: type === 'FILE' ? now : 0, modificationTime: now, length: 0,
      blockSize: type === 'FILE' ? this.cfg.blockSize : 0, replication: type === 'FILE' ? this.cfg.replication : 0,
      lease: null,
    };
    this.byId.set(n.id, n);
    if (parent) {
      parent.children!.set(name, n);
      parent.modificationTime = now;
    }
    return n;
  }

  // ---------------------------------------------------------------- lookup and checks

  pathOf(n: Inode): string {
    const parts: string[] = [];
    for (let c: Inode | null = n; c && c.parent; c = c.parent) parts.unshift(c.name);
    return '/' + parts.join('/');
  }

  /** Walks the path; `inodes[i]` is the inode of the first i components (root at 0), or null. */
  private resolve(path: string): { comps: string[]; inodes: (Inode | null)[] } {
    const comps = components(path);
    const inodes: (Inode | null)[] = [this.root];
    let cur: Inode | null = this.root;
    for (const c of comps) {
      cur = cur && cur.type === 'DIRECTORY' ? (cur.children!.get(c) ?? null) : null;
      inodes.push(cur);
    }
    return { comps, inodes };
  }

  lookup(path: string): Inode | null {
    const r = this.resolve(path);
    return r.inodes[r.inodes.length - 1];
  }

  private isSuper(user: string): boolean {
    return user === this.cfg.superuser || this.groupsOf(user).includes(this.cfg.supergroup);
  }

  private groupsOf(user: string): string[] {
    const extra = this.cfg.groups[user] ?? [];
    return user === this.cfg.superuser ? [user, this.cfg.supergroup, ...extra] : [user, ...extra];
  }

  private hasAccess(user: string, n: Inode, access: number): boolean {
    if (this.isSuper(user)) return true;
    const p = n.permission;
    let bits: number;
    if (n.owner === user) bits = (p >> 6) & 7;
    else if (this.groupsOf(user).includes(n.group)) bits = (p >> 3) & 7;
    else bits = p & 7;
    return (bits & access) === access;
  }

  private deny(caller: Caller, n: Inode, access: number): HdfsError {
    return errors.accessControl(
      `Permission denied: user=${caller.user}, access=${ACTION_NAME[access] ?? access}, ` +
        `inode="${this.pathOf(n)}":${n.owner}:${n.group}:${modeString(n)}`,
    );
  }

  private check(caller: Caller, n: Inode, access: number): void {
    if (!this.cfg.enforcePermissions || access === 0) return;
    if (!this.hasAccess(caller.user, n, access)) throw this.deny(caller, n, access);
  }

  /** EXECUTE on every existing ancestor directory (path traversal). */
  private checkTraverse(caller: Caller, path: string): void {
    if (!this.cfg.enforcePermissions) return;
    const { inodes } = this.resolve(path);
    for (let i = 0; i < inodes.length - 1; i++) {
      const n = inodes[i];
      if (!n || n.type !== 'DIRECTORY') return;
      this.check(caller, n, X);
    }
  }

  /** Sticky-bit rule: in a +t directory only the entry's or the directory's owner may remove it. */
  private checkSticky(caller: Caller, parent: Inode, child: Inode): void {
    if (!this.cfg.enforcePermissions || !(parent.permission & 0o1000) || this.isSuper(caller.user)) return;
    if (parent.owner === caller.user || child.owner === caller.user) return;
    throw errors.accessControl(
      `Permission denied by sticky bit: user=${caller.user}, path="${this.pathOf(child)}":${child.owner}:` +
        `${child.group}:${modeString(child)}, parent="${this.pathOf(parent)}":${parent.owner}:${parent.group}:` +
        `${modeString(parent)}`,
    );
  }

  private checkSubtree(caller: Caller, n: Inode, access: number): void {
    if (!this.cfg.enforcePermissions || n.type !== 'DIRECTORY') return;
    this.check(caller, n, access);
    for (const c of n.children!.values()) this.checkSubtree(caller, c, access);
  }

  private checkOwner(caller: Caller, n: Inode): void {
    if (!this.cfg.enforcePermissions || this.isSuper(caller.user) || n.owner === caller.user) return;
    throw errors.accessControl(`Permission denied. user=${caller.user} is not the owner of inode=${this.pathOf(n)}`);
  }

  private checkSafeMode(what: string): void {
    if (!this.safeModeProbe()) return;
    throw errors.safeMode(
      `${what}. Name node is in safe mode.\nIt was turned on manually. Use "hdfs dfsadmin -safemode leave" ` +
        `to turn safe mode off. NamenodeHostName:${this.cfg.nnHostName}`,
    );
  }

  private mustExist(path: string, msg = `File does not exist: ${path}`): Inode {
    const n = this.lookup(path);
    if (!n) {
      // A file as an intermediate component reads as "not a directory" in Hadoop 3.
      const { inodes } = this.resolve(path);
      for (let i = 1; i < inodes.length - 1; i++) {
        const a = inodes[i];
        if (a && a.type === 'FILE') {
          throw errors.parentNotDirectory(`${this.pathOf(a)} (is not a directory)`);
        }
      }
      throw errors.fileNotFound(msg);
    }
    return n;
  }

  private mustBeFile(path: string): Inode {
    const n = this.mustExist(path);
    if (n.type !== 'FILE') throw errors.fileNotFound(`Path is not a file: ${path}`);
    return n;
  }

  // ---------------------------------------------------------------- leases

  /** Lazily applies the hard limit: orphaned leases older than it are closed by the NN. */
  expireLeases(now = Date.now()): void {
    for (const n of this.leased) {
      const l = n.lease;
      if (!l) {
        this.leased.delete(n);
        continue;
      }
      if (l.recoveryUntil !== undefined && now >= l.recoveryUntil) this.releaseLease(n, true);
      else if (!l.writer?.live && now - l.lastRenewed >= this.cfg.hardLeaseMs) this.releaseLease(n, true);
    }
  }

  /** Closes the file with the bytes its writer got on disk (lease recovery). */
  private releaseLease(n: Inode, completeWithWriterBytes: boolean): void {
    const l = n.lease;
    if (!l) return;
    if (l.writer) {
      l.writer.revoked = true;
      if (completeWithWriterBytes && this.byId.get(n.id) === n) {
        n.length = l.writer.startOffset + l.writer.bytes;
        n.modificationTime = Date.now();
      }
    }
    n.lease = null;
    this.leased.delete(n);
  }

  private takeLease(n: Inode, holder: string, clientMachine: string, writer: OpenFile | null): void {
    n.lease = { holder, clientMachine, writer, lastRenewed: Date.now() };
    this.leased.add(n);
  }

  /** FSNamesystem.recoverLeaseInternal: the single-writer check of CREATE/APPEND/TRUNCATE. */
  private recoverLeaseInternal(op: string, n: Inode, path: string, holder: string, machine: string): void {
    const l = n.lease;
    if (!l) return;
    const why = (reason: string) => `Failed to ${op} ${path} for ${holder} on ${machine} because ${reason}`;
    const now = Date.now();
    if (l.recoveryUntil !== undefined) {
      if (now < l.recoveryUntil) {
        throw errors.recoveryInProgress(why(`another recovery is in progress by ${l.holder} on ${l.clientMachine}`));
      }
      this.releaseLease(n, false);
      return;
    }
    if (l.holder === holder) throw errors.alreadyBeingCreated(why(`${holder} is already the current lease holder.`));
    const expired = !l.writer?.live && now - l.lastRenewed >= this.cfg.softLeaseMs;
    if (!expired) {
      throw errors.alreadyBeingCreated(why(`this file lease is currently owned by ${l.holder} on ${l.clientMachine}`));
    }
    // Soft limit passed for a dead writer: recovery closes the file. With a partial last
    // block HDFS must run block recovery first, so this attempt fails and the next succeeds.
    const hadBytes = (l.writer?.bytes ?? 0) > 0;
    this.releaseLease(n, true);
    if (hadBytes) throw errors.recoveryInProgress(why('lease recovery is in progress. Try again later.'));
  }

  /** Revokes every lease under `n` (delete/overwrite): their writers' close then fails. */
  private revokeSubtree(n: Inode): void {
    if (n.lease) this.releaseLease(n, false);
    if (n.children) for (const c of n.children.values()) this.revokeSubtree(c);
  }

  private removeSubtree(n: Inode): void {
    this.revokeSubtree(n);
    const walk = (x: Inode) => {
      this.byId.delete(x.id);
      if (x.type === 'FILE') fs.rmSync(this.dataFileFor(x.id), { force: true });
      if (x.children) for (const c of x.children.values()) walk(c);
    };
    walk(n);
    if (n.parent) {
      n.parent.children!.delete(n.name);
      n.parent.modificationTime = Date.now();
    }
  }

  // ---------------------------------------------------------------- status and listing

  toStatus(n: Inode, pathSuffix: string): FileStatusJson {
    return {
      accessTime: n.accessTime,
      blockSize: n.blockSize,
      childrenNum: n.children ? n.children.size : 0,
      fileId: n.id,
      group: n.group,
      length: n.length,
      modificationTime: n.modificationTime,
      owner: n.owner,
      pathSuffix,
      permission: permString(n.permission),
      replication: n.replication,
      storagePolicy: 0,
      type: n.type,
    };
  }

  getFileStatus(caller: Caller, path: string): FileStatusJson {
    this.checkTraverse(caller, path);
    return this.toStatus(this.mustExist(path), '');
  }

  /** getListing: sorted by UTF-8 bytes; a file lists as itself with pathSuffix "". */
  list(
    caller: Caller, path: string, startAfter: string | null, limit: number | null,
  ): { entries: FileStatusJson[]; remaining: number } {
    this.checkTraverse(caller, path);
    const n = this.mustExist(path, `File ${path} does not exist.`);
    if (n.type === 'FILE') return { entries: [this.toStatus(n, '')], remaining: 0 };
    this.check(caller, n, R | X);
    let names = [...n.children!.keys()].sort(compareNames);
    if (startAfter !== null && startAfter !== '') names = names.filter((c) => compareNames(c, startAfter) > 0);
    const page = limit === null ? names : names.slice(0, limit);
    return {
      entries: page.map((c) => this.toStatus(n.children!.get(c)!, c)),
      remaining: names.length - page.length,
    };
  }

  contentSummary(caller: Caller, path: string): Record<string, unknown> {
    this.checkTraverse(caller, path);
    const n = this.mustExist(path);
    let dirs = 0;
    let files = 0;
    let length = 0;
    let space = 0;
    const walk = (x: Inode) => {
      if (x.type === 'DIRECTORY') {
        this.check(caller, x, R | X);
        dirs++;
        for (const c of x.children!.values()) walk(c);
      } else {
        files++;
        length += x.length;
        space += x.length * x.replication;
      }
    };
    walk(n);
    return {
      directoryCount: dirs, ecPolicy: '', fileCount: files, length, quota: -1, spaceConsumed: space,
      spaceQuota: -1, typeQuota: {},
    };
  }

  // ---------------------------------------------------------------- directories

  /**
   * Creates the missing ancestors of `path` (not `path` itself). HDFS adds u+wx to the
   * requested permission so the creator can populate them.
   */
  private ensureParents(caller: Caller, path: string, permission: number, now: number): Inode {
    const { comps, inodes } = this.resolve(path);
    let cur = this.root;
    for (let i = 0; i < comps.length - 1; i++) {
      const next = inodes[i + 1];
      if (next) {
        if (next.type !== 'DIRECTORY') throw errors.parentNotDirectory(`${this.pathOf(next)} (is not a directory)`);
        cur = next;
        continue;
      }
      this.check(caller, cur, W);
      cur = this.newInode('DIRECTORY', comps[i], cur, (permission | 0o300) & 0o1777, caller.user, cur.group, now);
    }
    return cur;
  }

  mkdirs(caller: Caller, path: string, permission: number): boolean {
    this.checkSafeMode(`Cannot create directory ${path}`);
    this.checkTraverse(caller, path);
    const existing = this.lookup(path);
    if (existing) {
      if (existing.type !== 'DIRECTORY') throw errors.fileAlreadyExists(`Path is not a directory: ${path}`);
      return true;
    }
    const now = Date.now();
    const parent = this.ensureParents(caller, path, permission, now);
    this.check(caller, parent, W);
    this.newInode('DIRECTORY', baseName(path), parent, permission, caller.user, parent.group, now);
    return true;
  }

  // ---------------------------------------------------------------- writes (DataNode side)

  /**
   * FSDirWriteFileOp.startFile, as the DataNode calls it when a CREATE arrives: the file
   * exists (empty, under construction, leased to `holder`) before any body byte is read.
   */
  create(caller: Caller, path: string, o: CreateOptions, holder: string): OpenFile {
    this.checkSafeMode(`Cannot create file${path}`); // sic: Hadoop omits the space
    if (path === '/') throw errors.fileAlreadyExists('/ already exists as a directory');
    this.checkTraverse(caller, path);
    const now = Date.now();
    const existing = this.lookup(path);
    if (existing) {
      if (existing.type === 'DIRECTORY') throw errors.fileAlreadyExists(`${path} already exists as a directory`);
      if (o.overwrite) {
        this.check(caller, existing, W);
        this.checkSticky(caller, existing.parent!, existing);
        this.removeSubtree(existing); // overwrite replaces the path before any data is written
      } else {
        this.recoverLeaseInternal('CREATE_FILE', existing, path, holder, caller.clientMachine);
        throw errors.fileAlreadyExists(`${path} for client ${caller.clientMachine} already exists`);
      }
    }
    let parent: Inode;
    const pPath = parentOf(path);
    const p = this.lookup(pPath);
    if (p && p.type === 'DIRECTORY') parent = p;
    else if (p) throw errors.parentNotDirectory(`${pPath} (is not a directory)`);
    else if (!o.createParent) {
      this.mustExist(pPath, `Parent directory doesn't exist: ${pPath}`);
      throw errors.fileNotFound(`Parent directory doesn't exist: ${pPath}`);
    } else parent = this.ensureParents(caller, path, o.permission, now);
    this.check(caller, parent, W);
    const n = this.newInode('FILE', baseName(path), parent, o.permission, caller.user, parent.group, now);
    if (o.replication !== null) n.replication = o.replication;
    if (o.blockSize !== null) n.blockSize = o.blockSize;
    const dataFile = this.dataFileFor(n.id);
    fs.writeFileSync(dataFile, '');
    const w: OpenFile = {
      inodeId: n.id, path, holder, clientMachine: caller.clientMachine, dataFile, startOffset: 0, bytes: 0,
      live: true, revoked: false, closed: false,
    };
    this.takeLease(n, holder, caller.clientMachine, w);
    return w;
  }

  /** FSDirAppendOp: leases the file to `holder`; new bytes go after the visible length. */
  append(caller: Caller, path: string, holder: string): OpenFile {
    this.checkSafeMode(`Cannot append to file${path}`);
    this.checkTraverse(caller, path);
    const n = this.mustBeFile(path);
    this.check(caller, n, W);
    this.recoverLeaseInternal('APPEND_FILE', n, path, holder, caller.clientMachine);
    const dataFile = this.dataFileFor(n.id);
    fs.truncateSync(dataFile, n.length); // drop bytes a revoked writer may have left past EOF
    const w: OpenFile = {
      inodeId: n.id, path, holder, clientMachine: caller.clientMachine, dataFile, startOffset: n.length, bytes: 0,
      live: true, revoked: false, closed: false,
    };
    this.takeLease(n, holder, caller.clientMachine, w);
    return w;
  }

  /** The DFSClient renews its lease while the stream is open. */
  renew(w: OpenFile): void {
    const n = this.byId.get(w.inodeId);
    if (n?.lease?.writer === w) n.lease.lastRenewed = Date.now();
  }

  /**
   * completeFile on close. Fails like FSNamesystem.checkLease when the lease was lost
   * (file overwritten/deleted: FileNotFound "No lease on"; lease recovered: LeaseExpired).
   */
  complete(w: OpenFile): void {
    if (w.closed) return;
    w.closed = true;
    w.live = false;
    const n = this.byId.get(w.inodeId);
    if (!n || !this.isAttached(n)) {
      throw errors.fileNotFound(
        `No lease on ${w.path} (inode ${w.inodeId}): File does not exist. Holder ${w.holder} does not have any open files.`,
      );
    }
    if (!n.lease || n.lease.writer !== w) {
      throw errors.leaseExpired(
        `Client (=${w.holder}) is not the lease owner (=${n.lease?.holder ?? 'null'}: ${this.pathOf(n)} (inode ${n.id})`,
      );
    }
    n.length = w.startOffset + w.bytes;
    n.modificationTime = Date.now();
    n.lease = null;
    this.leased.delete(n);
  }

  /** A DataNode that died: the lease stays with a writer that will never renew it. */
  orphan(w: OpenFile): void {
    w.live = false;
    const n = this.byId.get(w.inodeId);
    if (n?.lease?.writer === w) n.lease.lastRenewed = Date.now();
  }

  private isAttached(n: Inode): boolean {
    for (let c: Inode = n; c.parent; c = c.parent) if (c.parent.children!.get(c.name) !== c) return false;
    return true;
  }

  /** Opens the visible bytes for reading (an fd, so a concurrent delete does not matter). */
  openForRead(caller: Caller, path: string): { fd: number; length: number } {
    this.checkTraverse(caller, path);
    const n = this.mustBeFile(path);
    this.check(caller, n, R);
    n.accessTime = Date.now();
    return { fd: fs.openSync(this.dataFileFor(n.id), 'r'), length: n.length };
  }

  checkReadable(caller: Caller, path: string): Inode {
    this.checkTraverse(caller, path);
    const n = this.mustBeFile(path);
    this.check(caller, n, R);
    return n;
  }

  // ---------------------------------------------------------------- namespace edits

  delete(caller: Caller, path: string, recursive: boolean): boolean {
    this.checkSafeMode(`Cannot delete ${path}`);
    this.checkTraverse(caller, path);
    const n = this.lookup(path);
    if (!n) return false;
    if (n === this.root) return false; // FSDirDeleteOp refuses to delete "/"
    if (n.type === 'DIRECTORY' && n.children!.size > 0 && !recursive) {
      throw errors.pathIsNotEmptyDirectory(`\`${path} is non empty': Directory is not empty`);
    }
    this.check(caller, n.parent!, W);
    this.checkSticky(caller, n.parent!, n);
    this.checkSubtree(caller, n, R | W | X);
    this.removeSubtree(n);
    return true;
  }

  /** rename/2: false instead of most errors; an existing directory destination means "move into". */
  rename2(caller: Caller, src: string, dst: string): boolean {
    this.checkSafeMode(`Cannot rename ${src}`);
    this.checkTraverse(caller, src);
    this.checkTraverse(caller, dst);
    const s = this.lookup(src);
    if (!s || s === this.root) return false;
    if (src === dst) return true;
    let target = dst;
    const d = this.lookup(dst);
    if (d && d.type === 'DIRECTORY') target = dst === '/' ? `/${s.name}` : `${dst}/${s.name}`;
    if (target === src) return true;
    if (target.startsWith(src + '/')) {
      throw errors.io(`Rename destination ${target} is a directory or file under source ${src}`);
    }
    if (this.lookup(target)) return false;
    const tp = this.lookup(parentOf(target));
    if (!tp || tp.type !== 'DIRECTORY') return false;
    this.check(caller, s.parent!, W);
    this.checkSticky(caller, s.parent!, s);
    this.check(caller, tp, W);
    this.move(s, tp, baseName(target));
    return true;
  }

  /** rename/3 (renameoptions): the final path is always dst; failures are exceptions. */
  rename3(caller: Caller, src: string, dst: string, opts: Set<RenameOption>): void {
    this.checkSafeMode(`Cannot rename ${src}`);
    this.checkTraverse(caller, src);
    this.checkTraverse(caller, dst);
    const s = this.lookup(src);
    if (!s) throw errors.fileNotFound(`rename source ${src} is not found.`);
    if (s === this.root) throw errors.io('rename source cannot be the root');
    if (src === dst) throw errors.fileAlreadyExists(`The source ${src} and destination ${dst} are the same`);
    if (dst.startsWith(src + '/')) {
      throw errors.io(`Rename destination ${dst} is a directory or file under source ${src}`);
    }
    if (dst === '/') throw errors.io('rename destination cannot be the root');
    const dp = this.lookup(parentOf(dst));
    if (!dp) throw errors.fileNotFound(`rename destination parent ${parentOf(dst)} not found.`);
    if (dp.type !== 'DIRECTORY') throw errors.parentNotDirectory(`rename destination parent ${parentOf(dst)} is a file.`);
    const d = dp.children!.get(baseName(dst));
    this.check(caller, s.parent!, W);
    this.checkSticky(caller, s.parent!, s);
    this.check(caller, dp, W);
    if (d) {
      if (s.type === 'FILE' && d.type === 'DIRECTORY') {
        throw errors.io(`Source ${src} is a file but destination ${dst} is a directory`);
      }
      if (s.type === 'DIRECTORY' && d.type === 'FILE') {
        throw errors.io(`Source ${src} is a directory but destination ${dst} is a file`);
      }
      if (!opts.has('OVERWRITE')) throw errors.fileAlreadyExists(`rename destination ${dst} already exists.`);
      if (d.type === 'DIRECTORY' && d.children!.size > 0) {
        throw errors.io(`rename destination directory is not empty: ${dst}`);
      }
      this.checkSticky(caller, dp, d);
      this.removeSubtree(d);
    }
    this.move(s, dp, baseName(dst));
  }

  private move(n: Inode, newParent: Inode, newName: string): void {
    const now = Date.now();
    n.parent!.children!.delete(n.name);
    n.parent!.modificationTime = now;
    n.name = newName;
    n.parent = newParent;
    newParent.children!.set(newName, n);
    newParent.modificationTime = now;
    // fileId, times and any open lease stay with the inode, as in HDFS.
  }

  /** FSDirTruncateOp. Returns true on a block boundary; otherwise block recovery starts. */
  truncate(caller: Caller, path: string, newLength: number, holder: string): boolean {
    this.checkSafeMode(`Cannot truncate for ${path}`);
    this.checkTraverse(caller, path);
    const n = this.mustBeFile(path);
    this.check(caller, n, W);
    if (newLength < 0) {
      throw errors.hadoopIllegalArgument(`Cannot truncate to a negative file size: ${newLength}.`);
    }
    this.recoverLeaseInternal('TRUNCATE_FILE', n, path, holder, caller.clientMachine);
    if (newLength > n.length) {
      throw errors.hadoopIllegalArgument(
        `Cannot truncate to a larger file size. Current size: ${n.length}, truncate size: ${newLength}.`,
      );
    }
    if (newLength === n.length) return true;
    fs.truncateSync(this.dataFileFor(n.id), newLength);
    n.length = newLength;
    n.modificationTime = Date.now();
    const onBoundary = newLength % n.blockSize === 0;
    if (!onBoundary && this.cfg.truncateRecoveryMs > 0) {
      this.takeLease(n, holder, caller.clientMachine, null);
      n.lease!.recoveryUntil = Date.now() + this.cfg.truncateRecoveryMs;
    }
    return onBoundary;
  }

  /** FSDirConcatOp (Hadoop 3): sources are appended to the target and removed. */
  concat(caller: Caller, target: string, sources: string[]): void {
    this.checkSafeMode(`Cannot concat ${target}`);
    this.checkTraverse(caller, target);
    const t = this.mustBeFile(target);
    this.check(caller, t, W);
    if (t.lease) throw errors.hadoopIllegalArgument(`concat: target file ${target} is under construction`);
    const seen = new Set<Inode>();
    const srcs: Inode[] = [];
    for (const sp of sources) {
      this.checkTraverse(caller, sp);
      const s = this.mustBeFile(sp);
      if (s === t) throw errors.hadoopIllegalArgument(`concat: the src file ${sp} is the same with the target file ${target}`);
      if (seen.has(s)) throw errors.hadoopIllegalArgument(`concat: the same file ${sp} is specified more than once`);
      if (s.lease || s.length === 0) {
        throw errors.hadoopIllegalArgument(`concat: source file ${sp} is invalid or empty or underConstruction`);
      }
      if (s.blockSize > t.blockSize) {
        throw errors.hadoopIllegalArgument(
          `concat: source file ${sp} has preferred block size ${s.blockSize} which is greater than the ` +
            `target file's preferred block size ${t.blockSize}`,
        );
      }
      this.check(caller, s, R);
      this.check(caller, s.parent!, W);
      seen.add(s);
      srcs.push(s);
    }
    if (srcs.length === 0) throw errors.hadoopIllegalArgument('concat: No sources given');
    const out = fs.openSync(this.dataFileFor(t.id), 'r+');
    try {
      let pos = t.length;
      for (const s of srcs) {
        const data = fs.readFileSync(this.dataFileFor(s.id)).subarray(0, s.length);
        fs.writeSync(out, data, 0, data.length, pos);
        pos += data.length;
      }
      fs.ftruncateSync(out, pos);
      t.length = pos;
    } finally {
      fs.closeSync(out);
    }
    for (const s of srcs) this.removeSubtree(s);
    t.modificationTime = Date.now();
  }

  setPermission(caller: Caller, path: string, permission: number): void {
    this.checkSafeMode(`Cannot set permission for ${path}`);
    this.checkTraverse(caller, path);
    const n = this.mustExist(path);
    this.checkOwner(caller, n);
    n.permission = permission;
  }

  setOwner(caller: Caller, path: string, owner: string | undefined, group: string | undefined): void {
    this.checkSafeMode(`Cannot set owner for ${path}`);
    this.checkTraverse(caller, path);
    const n = this.mustExist(path);
    this.checkOwner(caller, n);
    if (this.cfg.enforcePermissions && !this.isSuper(caller.user)) {
      if (owner !== undefined && owner !== n.owner) {
        throw errors.accessControl(`User ${caller.user} is not a super user (non-super user cannot change owner).`);
      }
      if (group !== undefined && !this.groupsOf(caller.user).includes(group)) {
        throw errors.accessControl(`User ${caller.user} does not belong to ${group}`);
      }
    }
    if (owner !== undefined) n.owner = owner;
    if (group !== undefined) n.group = group;
  }

  setTimes(caller: Caller, path: string, mtime: number, atime: number): void {
    this.checkSafeMode(`Cannot set times ${path}`);
    this.checkTraverse(caller, path);
    const n = this.mustExist(path);
    this.check(caller, n, W);
    if (mtime !== -1) n.modificationTime = mtime;
    if (atime !== -1) n.accessTime = atime;
  }

  setReplication(caller: Caller, path: string, replication: number | null): boolean {
    this.checkSafeMode(`Cannot set replication for ${path}`);
    this.checkTraverse(caller, path);
    const n = this.mustExist(path);
    if (n.type !== 'FILE') return false;
    this.check(caller, n, W);
    n.replication = replication ?? this.cfg.replication;
    return true;
  }

  /** CHECKACCESS: a no-op success when permissions are disabled, as in FSNamesystem. */
  checkAccess(caller: Caller, path: string, fsaction: string): void {
    this.checkTraverse(caller, path);
    const n = this.mustExist(path);
    const bits = (fsaction[0] === 'r' ? R : 0) | (fsaction[1] === 'w' ? W : 0) | (fsaction[2] === 'x' ? X : 0);
    this.check(caller, n, bits);
  }

  assertNotSafeMode(what: string): void {
    this.checkSafeMode(what);
  }
}
