import type { SourceFactory, SourceTask } from '../dsl/task.js';

export const DEFAULT_VOCABULARY = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta', 'iota', 'kappa', 'lambda', 'mu'];

/** The i-th generated line: a pure function of (seed, i), so replay is exact. */
export function generatedLine(seed: number, i: number, wordsPerLine: number, vocabulary: readonly string[]): string {
  const words: string[] = [];
  for (let j = 0; j < wordsPerLine; j++) {
    // xorshift-style mix of (seed, i, j); deterministic and cheap.
    let x = (seed ^ Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(j + 1, 0x85ebca6b)) >>> 0;
    x ^= x >>> 16;
    x = Math.imul(x, 0x7feb352d) >>> 0;
    x ^= x >>> 15;
    words.push(vocabulary[x % vocabulary.length]!);
  }
  return words.join(' ');
}

/**
 * Deterministic generator: `lines` lines of `wordsPerLine` words. Position = next line
 * number; with parallelism p, task i produces lines ≡ i (mod p).
 */
export function generatorSource(options: { lines: number; wordsPerLine?: number; seed?: number; vocabulary?: string[] }): SourceFactory {
  const wordsPerLine = options.wordsPerLine ?? 8;
  const seed = options.seed ?? 1;
  const vocabulary = options.vocabulary ?? DEFAULT_VOCABULARY;
  return (): SourceTask => {
    let next = 0;
    let step = 1;
    return {
      open(ctx, position) {
        step = ctx.parallelism;
        next = typeof position === 'number' ? position : ctx.index;
      },
      read(max) {
        if (next >= options.lines) return null;
        const out: string[] = [];
        while (out.length < max && next < options.lines) {
          out.push(generatedLine(seed, next, wordsPerLine, vocabulary));
          next += step;
        }
        return out;
      },
      position: () => next,
    };
  };
}
