// The exactly-once blob switch rule on the real TaskRunner and BlobSchedule: a switch at B
// applies after every message before B and the snapshots of boundaries before B, before any
// message at or after B; a pending switch holds the input clock below B until it is released
// or aborted; checkpoints record the versions in use from their time on.
import { describe, expect, it } from 'vitest';
import type { Task, TaskContext } from '../src/dsl/task.js';
import { BlobSchedule, type BlobSwitch } from '../src/runtime/blob-schedule.js';
import type { PlannedTask } from '../src/runtime/plan.js';
import { TaskRunner, type RunnerHost } from '../src/runtime/task-runner.js';

function setup() {
  const log: string[] = [];
  const schedule = new BlobSchedule({ d: 1 });
  let version = 1;
  const task: Task = {
    onNext(values, ts) {
      log.push(`next ${ts} v${version}`);
    },
    onBlobUpdate(name, v) {
      version = v;
      log.push(`switch ${name} v${v}`);
    },
  };
  const host: RunnerHost = {
    intervalMs: 100,
    stage(t) {
      log.push(`stage ${t} ${JSON.stringify(schedule.versionsAt(t))}`);
    },
    forwardClock() {},
    forwardWatermark() {},
    blobCap: () => schedule.cap(),
    blobSwitchesIn: (lo, hi) => schedule.between(lo, hi),
    applyBlobSwitch(runner, sw) {
      for (const [n, v] of Object.entries((sw as BlobSwitch).versions)) runner.task.onBlobUpdate?.(n, v, `/x/${n}/v${v}`, runner.ctx);
    },
  };
  const meta = { id: 1, name: 'tag.0', processor: 'tag', index: 0, parallelism: 1, inputs: [7] } as unknown as PlannedTask;
  const runner = new TaskRunner(host, meta, task, {} as TaskContext & { epoch: number }, 0);
  return { log, schedule, runner };
}

describe('blob switch at a checkpoint boundary', () => {
  it('a pending switch holds the clock below B; on release every message at or after B sees the new version', () => {
    const { log, schedule, runner } = setup();
    runner.receive(50, ['a']);
    runner.clock(7, 120);
    schedule.pending = { id: 1, from: 300, versions: { d: 2 } };
    runner.receive(150, ['b']);
    runner.receive(250, ['c']);
    runner.receive(320, ['e']);
    runner.clock(7, 350);
    // Held below B = 300 while pending: boundary 200 is taken, 300 is not.
    expect(runner.inputClock).toBe(299);
    expect(log).toEqual(['next 50 v1', 'stage 100 {"d":1}', 'next 150 v1', 'stage 200 {"d":1}', 'next 250 v1']);
    schedule.release(1);
    runner.reclock();
    expect(runner.inputClock).toBe(350);
    // The checkpoint at 300 records v2: a restore at 300 replays from 300 with v2.
    expect(log.slice(5)).toEqual(['stage 300 {"d":2}', 'switch d v2', 'next 320 v2']);
  });

  it('a clock jumping over B applies the switch between the messages before and after B', () => {
    const { log, schedule, runner } = setup();
    schedule.pending = { id: 1, from: 500, versions: { d: 3 } };
    schedule.release(1);
    runner.receive(50, ['a']);
    runner.clock(7, 100);
    for (const ts of [450, 520, 650]) runner.receive(ts, ['x']);
    runner.clock(7, 720);
    expect(log).toEqual(['next 50 v1', 'stage 100 {"d":1}', 'next 450 v1', 'switch d v3', 'next 520 v3', 'next 650 v3', 'stage 700 {"d":3}']);
  });

  it('an aborted switch lifts the hold and changes nothing', () => {
    const { log, schedule, runner } = setup();
    schedule.pending = { id: 4, from: 200, versions: { d: 9 } };
    runner.receive(150, ['a']);
    runner.clock(7, 260);
    expect(runner.inputClock).toBe(199);
    schedule.abort(4);
    runner.reclock();
    runner.receive(230, ['b']);
    expect(runner.inputClock).toBe(260);
    expect(log).toEqual(['stage 100 {"d":1}', 'next 150 v1', 'stage 200 {"d":1}', 'next 230 v1']);
  });
});
