import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ChildCommand, ChildSpec } from './child.js';

const CHILD = fileURLToPath(new URL('./child.js', import.meta.url));

/**
 * One other Node process over the same store, kept for a whole case (`child.js <spec>
 * session`): each send() writes one command line and resolves with its JSON answer.
 * Commands sent to several sessions at once start together: that is the shared start
 * signal of the racing cases. Every wait is bounded; close() ends the process it started.
 */
export class ChildSession {
  readonly #proc: ChildProcess;
  readonly #answers: string[] = [];
  readonly #waiting: Array<(line: string | undefined) => void> = [];
  #stderr = '';
  #exited = false;
  readonly #exit: Promise<void>;

  private constructor(readonly why: string, spec: ChildSpec) {
    this.#proc = spawn(process.execPath, [CHILD, JSON.stringify(spec), 'session'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#proc.stderr!.on('data', (d: Buffer) => (this.#stderr = (this.#stderr + d.toString()).slice(-2000)));
    createInterface({ input: this.#proc.stdout! }).on('line', (line) => {
      const w = this.#waiting.shift();
      if (w) w(line);
      else this.#answers.push(line);
    });
    this.#exit = new Promise((resolve) => {
      this.#proc.on('exit', () => {
        this.#exited = true;
        for (const w of this.#waiting.splice(0)) w(undefined);
        resolve();
      });
      this.#proc.on('error', (err) => {
        this.#stderr += `\nspawn failed: ${err.message}`;
        this.#exited = true;
        for (const w of this.#waiting.splice(0)) w(undefined);
        resolve();
      });
    });
  }

  /** Starts the process and waits (bounded) until it has opened the store. */
  static async start(spec: ChildSpec, why: string, timeoutMs = 30_000): Promise<ChildSession> {
    const s = new ChildSession(why, spec);
    try {
      const first = await s.#next(timeoutMs, 'opening the store');
      if (!first.ready) throw new Error(`${why}: child process did not open the store: ${JSON.stringify(first)}`);
      return s;
    } catch (err) {
      await s.close();
      throw err;
    }
  }

  /** Runs one command in the child; a thrown error there is a failure here that names the command. */
  async send(command: ChildCommand, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    if (this.#exited) throw new Error(`${this.why}: child process exited before ${JSON.stringify(command)}: ${this.#stderr}`);
    const answer = this.#next(timeoutMs, JSON.stringify(command));
    this.#proc.stdin!.write(JSON.stringify(command) + '\n');
    const r = await answer;
    if (r.error) throw new Error(`${this.why}: child process ${command.cmd} ${JSON.stringify(command)} failed: ${JSON.stringify(r.error)}`);
    return r;
  }

  async #next(timeoutMs: number, what: string): Promise<Record<string, unknown>> {
    const queued = this.#answers.shift();
    let timer: NodeJS.Timeout | undefined;
    const line = queued ?? (await new Promise<string | undefined>((resolve) => {
      if (this.#exited) return resolve(undefined);
      this.#waiting.push(resolve);
      timer = setTimeout(() => {
        const i = this.#waiting.indexOf(resolve);
        if (i >= 0) this.#waiting.splice(i, 1);
        resolve(undefined);
      }, timeoutMs);
    }));
    clearTimeout(timer);
    if (line === undefined) {
      const how = this.#exited ? `exited (code ${this.#proc.exitCode ?? this.#proc.signalCode}) before answering ${what}` : `gave no answer to ${what} within ${timeoutMs} ms`;
      throw new Error(`${this.why}: child process ${how}: ${this.#stderr.trim()}`);
    }
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error(`${this.why}: child process answered ${what} with a line that is not JSON: ${line.slice(0, 500)}`);
    }
  }

  /** kill -9 of this session's own process (a crash at whatever step it is in); resolves once it is gone. */
  async kill(): Promise<void> {
    if (this.#exited) return;
    this.#proc.kill('SIGKILL');
    await this.#exit;
  }

  /** Closes stdin (the child closes its store and exits); kills it by its own handle after 10 s. */
  async close(): Promise<void> {
    if (this.#exited) return;
    this.#proc.stdin!.end();
    const killer = setTimeout(() => this.#proc.kill('SIGKILL'), 10_000);
    await this.#exit;
    clearTimeout(killer);
  }
}
