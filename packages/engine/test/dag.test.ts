import { describe, expect, it } from 'vitest';
import { dag, Dag, ExecutionPlan, generatorSource, fileSink, isEngineError, validateDag, type Task } from '@sluice/engine';

const noopTask = (): Task => ({ onNext() {} });

function wordCount(p = 2): Dag {
  return dag('wc')
    .source('lines', generatorSource({ lines: 10 }))
    .flatMap('split', (l: string) => l.split(' '), { parallelism: p })
    .groupBy((w: string) => w)
    .count('count', { parallelism: p })
    .sink('out', fileSink({ dir: '/tmp/unused' }));
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isEngineError(err) ? err.code : `not an EngineError: ${String(err)}`;
  }
  return undefined;
}

describe('DSL and DAG validation', () => {
  it('builds a word-count DAG with edges and partitions', () => {
    const d = validateDag(wordCount());
    expect([...d.processors.keys()]).toEqual(['lines', 'split', 'count', 'out']);
    expect(d.edges.map((e) => `${e.from}->${e.to}:${e.partition}`)).toEqual(['lines->split:shuffle', 'split->count:hash', 'count->out:shuffle']);
  });

  it('plans task ids, input channels and placement', () => {
    const plan = new ExecutionPlan(validateDag(wordCount(2)), 2);
    expect(plan.tasks.map((t) => t.name)).toEqual(['lines.0', 'split.0', 'split.1', 'count.0', 'count.1', 'out.0']);
    // hash edge: every count task hears from every split task
    expect(plan.byName.get('count.1')!.inputs).toEqual([1, 2]);
    expect(plan.byName.get('out.0')!.inputs).toEqual([3, 4]);
    expect(plan.tasks.map((t) => t.executor)).toEqual([0, 0, 1, 0, 1, 0]);
  });

  it('rejects a cycle with the path', () => {
    const d = new Dag('loop');
    d.processor({ name: 'src', kind: 'source', parallelism: 1, source: generatorSource({ lines: 1 }) });
    d.processor({ name: 'a', kind: 'task', parallelism: 1, task: noopTask });
    d.processor({ name: 'b', kind: 'task', parallelism: 1, task: noopTask });
    d.edge('src', 'a').edge('a', 'b').edge('b', 'a');
    expect(codeOf(() => validateDag(d))).toBe('DAG_CYCLE');
    expect(() => validateDag(d)).toThrow(/a -> b -> a/);
  });

  it('rejects an edge to an unknown processor', () => {
    const d = new Dag('x');
    d.processor({ name: 'src', kind: 'source', parallelism: 1, source: generatorSource({ lines: 1 }) });
    d.edge('src', 'ghost');
    expect(codeOf(() => validateDag(d))).toBe('UNKNOWN_PROCESSOR');
  });

  it('rejects bad parallelism, missing sources, inputs into sources, orphans and non-DAGs', () => {
    expect(codeOf(() => validateDag(dag('p').source('s', generatorSource({ lines: 1 }), { parallelism: 0 }).map((x) => x).sink('o', noopTask) as Dag))).toBe('DAG_INVALID');
    const noSource = new Dag('n');
    noSource.processor({ name: 'a', kind: 'task', parallelism: 1, task: noopTask });
    expect(codeOf(() => validateDag(noSource))).toBe('DAG_INVALID');
    const intoSource = new Dag('i');
    intoSource.processor({ name: 's1', kind: 'source', parallelism: 1, source: generatorSource({ lines: 1 }) });
    intoSource.processor({ name: 's2', kind: 'source', parallelism: 1, source: generatorSource({ lines: 1 }) });
    intoSource.edge('s1', 's2');
    expect(codeOf(() => validateDag(intoSource))).toBe('DAG_INVALID');
    const orphan = new Dag('o');
    orphan.processor({ name: 's', kind: 'source', parallelism: 1, source: generatorSource({ lines: 1 }) });
    orphan.processor({ name: 'lonely', kind: 'task', parallelism: 1, task: noopTask });
    expect(codeOf(() => validateDag(orphan))).toBe('DAG_INVALID');
    expect(codeOf(() => validateDag({ not: 'a dag' }))).toBe('DAG_INVALID');
    expect(codeOf(() => dag('d').source('s', generatorSource({ lines: 1 })).map('s', (x) => x))).toBe('DAG_INVALID');
    expect(codeOf(() => validateDag(dag('bad name').source('../etc', generatorSource({ lines: 1 })).map((x) => x).sink('o', noopTask)))).toBe('DAG_INVALID');
  });
});
