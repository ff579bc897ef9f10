// The dashboard in a real browser (Debian chromium via playwright-core), served by a real
// master (its own users file, ACLs and sessions) running a word count: apps list, the DAG, charts, logs filter and live
// follow, rescale, kill, a 403 for a user without 'r', and no console errors. Screenshots of each
// page go to test-results/ui/.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { REPO, waitFor } from '../e2e/helpers/engine-cluster.js';
import { CHROMIUM, CHROMIUM_ARGS, reportChromium } from './chromium.js';
import { startRunningWordCount, type RunningApp } from './running-app.js';

const haveChromium = reportChromium('Dashboard browser tests');
const SHOTS = join(REPO, 'test-results', 'ui');

let run: RunningApp;
let base: string;
let browser: Browser;
const consoleErrors: string[] = [];

async function newPage(ctx: BrowserContext, who: string, errors: string[]): Promise<Page> {
  const page = await ctx.newPage();
  page.on('console', (m) => m.type() === 'error' && errors.push(`${who}: ${m.text()}`));
  page.on('pageerror', (e) => errors.push(`${who}: ${e.message}`));
  page.on('dialog', (d) => void d.accept());
  return page;
}

/** Waits for a locator; on timeout the error carries what the page shows instead. */
async function see(page: Page, selector: string, timeout = 10_000): Promise<void> {
  try {
    await page.locator(selector).first().waitFor({ timeout });
  } catch (err) {
    const shown = await page.locator('body').innerText().catch(() => '');
    throw new Error(`${(err as Error).message.split("\n")[0]}; page shows: ${shown.slice(0, 1500)}; console: ${consoleErrors.join(" / ")}`, { cause: err });
  }
}

async function login(page: Page, token: string): Promise<void> {
  await page.goto(`${base}/ui/`);
  await page.locator('[data-testid=login] input[name=token]').fill(token);
  await page.locator('[data-testid=login] button[type=submit]').click();
  await see(page, '[data-testid=apps]');
}

describe.skipIf(!haveChromium)('dashboard in chromium', () => {
  beforeAll(async () => {
    execFileSync(process.execPath, [resolve(REPO, 'packages/engine/ui/build.mjs')], { stdio: 'pipe' });
    mkdirSync(SHOTS, { recursive: true });
    run = await startRunningWordCount('sluice-ui-');
    // The master itself: alice owns the app, bob is a user with no ACL entry on it.
    base = `http://${run.addr}`;
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close();
    await run?.stop();
  });

  it('the master serves the dashboard under /ui', async () => {
    const res = await fetch(`http://${run.addr}/ui/`);
    expect(res.status).toBe(200);
    const html = await res.text();
    const js = /src="(\/ui\/assets\/app-[^"]+\.js)"/.exec(html)?.[1];
    expect(js).toBeDefined();
    const asset = await fetch(`http://${run.addr}${js}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(`http://${run.addr}/ui/assets/..%2Fpackage.json`)).status).toBe(404);
  });

  it('walks every page as alice: apps, app (DAG, chart), logs (filter, follow), metrics, cluster, rescale, kill', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await newPage(ctx, 'alice', consoleErrors);
    await login(page, run.tokens.alice);
    const cookies = await ctx.cookies();
    const session = cookies.find((c) => c.name === 'sluice_session');
    expect(session?.httpOnly).toBe(true);
    expect(session?.sameSite).toBe('Strict');

    // Apps page lists the app.
    await page.locator(`[data-testid=app-row][data-app="${run.appId}"]`).waitFor({ timeout: 10_000 });
    await page.screenshot({ path: join(SHOTS, 'apps.png'), fullPage: true });

    // App page: one node per processor, one edge per connection, labelled.
    await page.goto(`${base}/ui/#/apps/${encodeURIComponent(run.appId)}`);
    await see(page, '[data-testid=dag]');
    const names = await page.locator('[data-testid=dag-node]').evaluateAll((els) => els.map((e) => e.getAttribute('data-name')));
    expect(names.sort()).toEqual(['count', 'lines', 'out', 'split']);
    const edges = await page.locator('[data-testid=dag-edge]').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-from')}->${e.getAttribute('data-to')}`));
    expect(edges.sort()).toEqual(['count->out', 'lines->split', 'split->count']);
    const labels = await page.locator('[data-testid=dag-edge-label]').allTextContents();
    expect(labels).toHaveLength(3);
    expect(labels.every((l) => ['forward', 'shuffle', 'hash'].includes(l))).toBe(true);
    // A chart with data points (reports arrive every few seconds).
    await waitFor('a chart with data points', 45_000, async () => {
      const pts = await page.locator('[data-testid=chart]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-points'))));
      return pts.some((n) => n > 0) ? true : undefined;
    }, 1000);
    expect(await page.locator('[data-testid=chart] canvas').count()).toBeGreaterThan(0);
    // The task table fills in once executors reported their counters.
    await waitFor('task rows', 30_000, async () => ((await page.locator('[data-testid=tasks] tbody tr').count()) >= 4 ? true : undefined), 1000);
    await page.screenshot({ path: join(SHOTS, 'app.png'), fullPage: true });

    // Logs: a filter narrows the result; follow shows a new line.
    await page.goto(`${base}/ui/#/logs/${encodeURIComponent(run.appId)}`);
    const count = async (): Promise<number> => Number((await page.locator('[data-testid=log-count]').textContent())?.split(' ')[0]);
    const shownLines = (): Promise<string[]> => page.locator('[data-testid=log-line]').allTextContents();
    // Unfiltered: the AppMaster's start-up lines, more than the one the filter keeps.
    const NEEDLE = 'all executors running';
    let seen: string[] = [];
    await waitFor('log lines', 20_000, async () => {
      const lines = (seen = await shownLines());
      return lines.some((l) => l.includes(NEEDLE)) && lines.some((l) => !l.includes(NEEDLE)) ? true : undefined;
    }, 300).catch((err: unknown) => {
      throw new Error(`${String(err)}; shown: ${seen.slice(-20).join(' | ')}`);
    });
    await page.locator('[data-testid=log-filters] input[name=executor]').fill('appmaster');
    await page.locator('[data-testid=log-filters] input[name=grep]').fill(NEEDLE);
    await page.locator('[data-testid=apply]').click();
    await waitFor('the filter to narrow the lines', 10_000, async () => {
      const lines = await shownLines();
      return lines.length > 0 && lines.length < seen.length && lines.every((l) => l.includes(NEEDLE) && l.includes('[appmaster')) ? true : undefined;
    }, 300);
    // Follow with the executor filter only: a new AppMaster line shows within seconds.
    await page.locator('[data-testid=log-filters] input[name=grep]').fill('');
    await page.locator('[data-testid=apply]').click();
    await waitFor('the wider filter', 10_000, async () => ((await shownLines()).length > 1 ? true : undefined), 300);
    await page.locator('[data-testid=follow]').click();
    await page.locator('[data-testid=log-count]', { hasText: 'following' }).waitFor({ timeout: 5000 });
    const before = await count();
    const marker = `dashboard follow marker ${Date.now()}`;
    const app = (await run.storage.getAppStorage(run.appId))!;
    await app.logs.append([{ ts: Date.now(), level: 'warn', msg: marker, labels: { app: run.appId, executor: 'appmaster' } }]);
    await app.close();
    const t0 = Date.now();
    await page.locator('[data-testid=log-line]', { hasText: marker }).waitFor({ timeout: 5000 });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(await count()).toBeGreaterThan(before);
    await page.screenshot({ path: join(SHOTS, 'logs.png'), fullPage: true });
    await page.locator('[data-testid=follow]').click();

    // Metrics page: pick a series, chart it.
    await page.goto(`${base}/ui/#/metrics/${encodeURIComponent(run.appId)}`);
    const select = page.locator('[data-testid=metric-query] select[name=name]');
    await waitFor('series list', 10_000, async () => ((await select.locator('option').allTextContents()).includes('sluice_task_messages_total') ? true : undefined), 300).catch(async (err: unknown) => {
      throw new Error(`${String(err)}; page shows: ${(await page.locator('main').innerHTML()).slice(0, 1500)}`);
    });
    await select.selectOption('sluice_task_messages_total');
    await page.locator('[data-testid=metric-query] input[name=by]').fill('processor');
    await page.locator('[data-testid=metric-query] select[name=agg]').selectOption('max');
    await page.locator('[data-testid=run]').click();
    await page.locator('[data-testid=chart] canvas').first().waitFor({ timeout: 10_000 });
    expect(Number(await page.locator('[data-testid=chart]').first().getAttribute('data-points'))).toBeGreaterThan(0);
    await page.screenshot({ path: join(SHOTS, 'metrics.png'), fullPage: true });

    // Cluster page.
    await page.goto(`${base}/ui/#/cluster`);
    await page.locator('[data-testid=workers] tbody tr').first().waitFor({ timeout: 10_000 });
    expect(await page.locator('[data-testid=workers] tbody tr').first().textContent()).toContain('w1');
    await page.screenshot({ path: join(SHOTS, 'cluster.png'), fullPage: true });

    // Rescale from the app page: stop at a savepoint, restart with count at 1 task, same app id, version 2.
    await page.goto(`${base}/ui/#/apps/${encodeURIComponent(run.appId)}`);
    await page.locator('[data-testid=rescale-input]').fill('count=1');
    await page.locator('[data-testid=rescale]').click();
    await see(page, '[data-testid=app-version]:has-text("version 2 (previous 1)")', 90_000);
    const rescaled = await waitFor('the rescaled app to commit', 60_000, async () => {
      const r = await fetch(`${base}/apps/${encodeURIComponent(run.appId)}`, { headers: { authorization: `Bearer ${run.tokens.alice}` } });
      const a = (await r.json()) as { status: string; versions?: { current: number; events: Array<{ kind: string }> }; appMaster?: { committed?: number } | null };
      return a.status === 'running' && a.versions?.current === 2 && a.appMaster?.committed !== undefined ? a : undefined;
    });
    expect(rescaled.versions?.events.at(-1)?.kind).toBe('rescale');
    // The page redraws the DAG the new run stored: count at one task.
    await waitFor('the DAG to show count x1', 30_000, async () => ((await page.locator('[data-testid=dag-node][data-name=count]').textContent())?.includes('×1') ? true : undefined), 500);
    await page.screenshot({ path: join(SHOTS, 'app-rescaled.png'), fullPage: true });

    // Kill from the app page: the state turns killed in the page.
    await page.goto(`${base}/ui/#/apps/${encodeURIComponent(run.appId)}`);
    await page.locator('[data-testid=kill]').click();
    await page.locator('[data-testid=app-state]', { hasText: 'killed' }).waitFor({ timeout: 10_000 });
    const states = await page.locator('[data-testid=dag-node]').evaluateAll((els) => els.map((e) => e.getAttribute('data-state')));
    expect(new Set(states)).toEqual(new Set(['stopped']));
    await page.screenshot({ path: join(SHOTS, 'app-killed.png'), fullPage: true });
    await ctx.close();
    expect(consoleErrors).toEqual([]);
  });

  it('bob (no r on the app) sees 403 in the page and from the API; a cross-site kill is refused', async () => {
    const ctx = await browser.newContext();
    const bobErrors: string[] = [];
    const page = await newPage(ctx, 'bob', bobErrors);
    await login(page, run.tokens.bob);
    expect(await page.locator('[data-testid=app-row]').count()).toBe(0);
    await page.goto(`${base}/ui/#/apps/${encodeURIComponent(run.appId)}`);
    await page.locator('[data-testid=error][data-status="403"]').waitFor({ timeout: 10_000 });
    await page.screenshot({ path: join(SHOTS, 'forbidden.png'), fullPage: true });
    // The only console errors are the browser's own notes on the refused requests.
    expect(bobErrors.filter((e) => !/status of 403/.test(e))).toEqual([]);
    const res = await fetch(`${base}/apps/${encodeURIComponent(run.appId)}/logs`, { headers: { authorization: `Bearer ${run.tokens.bob}` } });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('FORBIDDEN');
    expect((await fetch(`${base}/apps/${encodeURIComponent(run.appId)}/logs`)).status).toBe(401);
    // A session cookie without the dashboard's header (what a cross-site form sends).
    const cookie = (await ctx.cookies()).find((c) => c.name === 'sluice_session')!;
    const csrf = await fetch(`${base}/ui/api/apps/${encodeURIComponent(run.appId)}/kill`, { method: 'POST', headers: { cookie: `sluice_session=${cookie.value}` } });
    expect(csrf.status).toBe(403);
    expect(((await csrf.json()) as { error: { code: string } }).error.code).toBe('CSRF');
    await ctx.close();
  });
});
