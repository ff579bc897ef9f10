// Word count on Sluice. Submit with:
//   sluice submit examples/word-count/word-count.mjs --config input=/abs/text.txt --config output=/abs/out
// The default export receives the engine API (`sluice`) and the app config.

/** The tokenizer; the demo uses the same function for its reference count. */
export function tokenize(line) {
  return line.toLowerCase().split(/[^a-z']+/).filter((w) => w.length > 0 && w !== "'");
}

export default function wordCount(sluice, config) {
  const { dag, connectors } = sluice;
  if (!config.input || !config.output) throw new Error('word-count needs --config input=<file> --config output=<dir>');
  const parallelism = Number(config.parallelism ?? 2);
  return dag('word-count', { checkpointIntervalMs: Number(config.checkpointIntervalMs ?? 500) })
    .source('lines', connectors.fileSource({ path: config.input, maxLinesPerSec: config.linesPerSec ? Number(config.linesPerSec) : undefined }))
    .flatMap('split', tokenize, { parallelism })
    .groupBy((w) => w)
    .count('count', { parallelism })
    .sink('out', connectors.fileSink({ dir: config.output }));
}
