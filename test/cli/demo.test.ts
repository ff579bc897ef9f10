// The newcomer's path: `sluice demo` (what `npm run demo` runs) counts exactly, keeps its
// cluster and dashboard up with --keep-running, and the commands the README shows next
// work with no flags beyond -c (the admin token is found in the demo's folder).
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, Proc } from '../e2e/helpers/engine-cluster.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-demo-'));
let demo: Proc | undefined;

afterAll(async () => {
  await demo?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('sluice demo', () => {
  it('counts exactly after an executor is killed, serves the dashboard while kept running, and the next commands work', async () => {
    demo = Proc.start(['demo', '--dir', '.sluice', '--copies', '100', '--lines-per-sec', '1000', '--keep-running'], { cwd: dir, env: { SLUICE_TOKEN: '' } });
    await demo.line(/^EXACT: /, 150_000);
    const dash = (await demo.line(/^dashboard: (http:\/\/\S+\/ui\/)/, 10_000))[1]!;
    const tokenFile = join(dir, '.sluice', 'admin.token');
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    const token = readFileSync(tokenFile, 'utf8').trim();
    const base = dash.replace(/\/ui\/$/, '');
    expect((await fetch(dash)).status).toBe(200);
    const apps = (await (await fetch(`${base}/apps`, { headers: { authorization: `Bearer ${token}` } })).json()) as { apps: Array<{ appId: string; name: string; status: string }> };
    const wc = apps.apps.find((a) => a.name === 'word-count');
    expect(wc?.status).toBe('stopped');
    // The dashboard's app overview has the demo's DAG (stored by the AppMaster).
    const login = await fetch(`${base}/ui/api/login`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-sluice-ui': '1', origin: base }, body: JSON.stringify({ token }) });
    expect(login.status).toBe(200);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const page = (await (await fetch(`${base}/ui/api/apps/${encodeURIComponent(wc!.appId)}`, { headers: { cookie, 'x-sluice-ui': '1' } })).json()) as { overview: { dag?: { processors: unknown[] }; processors: Array<{ messages: number }> } };
    expect(page.overview.dag?.processors.length).toBe(4);
    expect(page.overview.processors.some((p) => p.messages > 0)).toBe(true);
    // What the README shows next: with -c only, the token comes from the demo's folder.
    const listed = await cli(['apps', '-c', '.sluice/cluster.yaml', '--json'], dir);
    expect(listed.code, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as Array<{ appId: string }>).some((a) => a.appId === wc!.appId)).toBe(true);
    const logs = await cli(['logs', wc!.appId, '-c', '.sluice/cluster.yaml', '--level', 'warn'], dir);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toMatch(/recovering|exited|disconnected/);
    const metrics = await cli(['metrics', wc!.appId, '-c', '.sluice/cluster.yaml'], dir);
    expect(metrics.code, metrics.stderr).toBe(0);
    demo.child.kill('SIGINT');
    expect(await demo.exited).toBe(0);
    demo = undefined;
  }, 200_000);
});
