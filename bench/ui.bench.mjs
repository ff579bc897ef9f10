// Dashboard budget (issue 14): JavaScript shipped per page (gzipped) and how fast the app
// page is usable with a 20-processor DAG and 100k log lines in the store, each beside a
// raw baseline from the same run: a minimal preact+htm bundle, and chromium loading a
// static page from the same server.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { openConfiguredStorage, parseStorageConfig } from '@sluice/storage-api';
import { observabilityRoutes } from '../packages/engine/dist/observability/index.js';
import { medianMs, report } from './lib.mjs';

const REPO = resolve(fileURLToPath(import.meta.url), '../..');
const UI = join(REPO, 'packages/engine/dist/ui');
const CHROMIUM = process.env.SLUICE_CHROMIUM ?? '/usr/bin/chromium';
const PROCESSORS = 20;
const LOG_LINES = 100_000;

execFileSync(process.execPath, [join(REPO, 'packages/engine/ui/build.mjs')], { stdio: 'pipe' });

// ---- JS per page (one bundle serves every page) vs the view library's own floor
const assets = readdirSync(join(UI, 'assets'));
const js = assets.filter((f) => f.endsWith('.js')).reduce((n, f) => n + gzipSync(readFileSync(join(UI, 'assets', f))).length, 0);
const tmp = mkdtempSync(join(tmpdir(), 'sluice-ui-bench-'));
writeFileSync(join(tmp, 'min.js'), "import { html, render } from 'htm/preact';\nrender(html`<p>hi</p>`, document.body);\n");
const floor = await build({ entryPoints: [join(tmp, 'min.js')], bundle: true, minify: true, format: 'esm', write: false, absWorkingDir: join(REPO, 'packages/engine'), nodePaths: [join(REPO, 'node_modules')] });
const floorGz = gzipSync(floor.outputFiles[0].contents).length;
report({ name: 'ui: JS per page (gzipped)', value: js / 1024, unit: 'KiB', baseline: 'minimal preact+htm bundle', baselineValue: floorGz / 1024, higherIsBetter: false, goal: '<= 300 KiB' });

// ---- app page usable with a 20-processor DAG and 100k log lines
if (!existsSync(CHROMIUM)) {
  process.stderr.write(`ui bench: app-page figure NOT RUN: chromium missing at ${CHROMIUM}\n`);
} else {
  const storage = await openConfiguredStorage(parseStorageConfig({ default: { module: '@sluice/storage-fs', options: { root: join(tmp, 'store') } } }), { baseDir: tmp });
  const appId = 'bench-ui-1';
  const app = await storage.createAppStorage('bench-ui', appId, { owner: 'bench' });
  const names = Array.from({ length: PROCESSORS }, (_, i) => `p${String(i).padStart(2, '0')}`);
  await app.config.set('_dag', {
    name: 'bench', processors: names.map((name, i) => ({ name, parallelism: 2, kind: i === 0 ? 'source' : 'task' })),
    edges: names.slice(1).map((to, i) => ({ from: names[Math.max(0, i - (i % 3))], to, label: i % 2 ? 'hash' : 'shuffle' })),
  });
  const now = Date.now();
  for (let b = 0; b < LOG_LINES / 10_000; b++) {
    await app.logs.append(Array.from({ length: 10_000 }, (_, i) => ({ ts: now - 600_000 + (b * 10_000 + i) * 5, level: i % 50 ? 'info' : 'warn', msg: `line ${b * 10_000 + i}`, labels: { app: appId, executor: String(i % 4), processor: names[i % PROCESSORS], task: `${names[i % PROCESSORS]}.${i % 2}` } })));
  }
  const points = [];
  for (let t = now - 900_000; t <= now; t += 5000) {
    for (const p of names) for (const k of [0, 1]) {
      const labels = { app: appId, executor: String(k), processor: p, task: `${p}.${k}` };
      points.push({ name: 'sluice_task_messages_total', labels, ts: t, value: (t - now + 900_000) / 10, kind: 'counter' });
      points.push({ name: 'sluice_task_lag_ms', labels, ts: t, value: 50 + k, kind: 'gauge' });
    }
  }
  await app.metrics.write(points);
  const routes = observabilityRoutes({
    getAppStorage: async (id) => (id === appId ? app : undefined),
    cluster: () => ({ get: async (p) => (p.startsWith('/apps/') ? { appId, status: 'running', epoch: 1, owner: 'bench' } : {}), post: async () => ({}) }),
    uiDir: UI,
  });
  const server = createServer((req, res) => {
    if (req.url === '/static.html') {
      res.writeHead(200, { 'content-type': 'text/html' });
      return res.end('<!doctype html><p id="ok">static</p>');
    }
    void routes(req, res).then((done) => done || (res.writeHead(404), res.end()));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), '--disable-dev-shm-usage', '--disable-gpu'] });
  try {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    // Warm-up (first chromium navigation pays process start-up).
    await page.goto(`${base}/static.html`);
    const baseline = await medianMs(async () => {
      await page.goto('about:blank');
      await page.goto(`${base}/static.html`);
      await page.locator('#ok').waitFor();
    });
    const usable = await medianMs(async () => {
      await page.goto('about:blank');
      await page.goto(`${base}/ui/#/apps/${appId}`);
      await page.locator(`[data-testid=dag-node] >> nth=${PROCESSORS - 1}`).waitFor({ timeout: 10_000 });
      await page.locator(`[data-testid=tasks] tbody tr >> nth=${PROCESSORS * 3 - 1}`).waitFor({ timeout: 10_000 });
    });
    report({ name: `ui: app page usable (${PROCESSORS}-processor DAG, ${LOG_LINES / 1000}k log lines)`, value: usable, unit: 'ms', baseline: 'chromium loading a static page from the same server', baselineValue: baseline, higherIsBetter: false, goal: '<= 1000 ms' });
    const logsMs = await medianMs(async () => {
      await page.goto('about:blank');
      await page.goto(`${base}/ui/#/logs/${appId}`);
      await page.locator('[data-testid=log-line] >> nth=199').waitFor({ timeout: 10_000 });
    });
    report({ name: `ui: logs page first ${200} lines of ${LOG_LINES / 1000}k`, value: logsMs, unit: 'ms', baseline: 'chromium loading a static page from the same server', baselineValue: baseline, higherIsBetter: false, goal: '<= 1000 ms' });
  } finally {
    await browser.close();
    server.close();
    await app.close();
    await storage.close();
  }
}
rmSync(tmp, { recursive: true, force: true });
