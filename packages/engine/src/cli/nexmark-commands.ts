import { InvalidArgumentError, type Command } from 'commander';
import { once } from 'node:events';
import { EngineError } from '../errors.js';
import { parseNexmarkOptions } from '../nexmark/config.js';
import { NexmarkGenerator } from '../nexmark/generator.js';
import { run } from './exit.js';

/** Bytes buffered before a write to stdout: large writes keep the dump near generator speed. */
const CHUNK_BYTES = 1 << 20;

function int(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`--${name} must be a non-negative integer`);
    return n;
  };
}

/** `sluice nexmark generate`: dumps the deterministic Nexmark stream so others can check results. */
export function registerNexmarkCommands(program: Command): void {
  const nx = program.command('nexmark').description('the Nexmark benchmark: its event generator');
  nx.command('generate')
    .description('print the Nexmark events (persons, auctions, bids) one JSON object a line, in event-number order')
    .requiredOption('--events <n>', 'number of events', int('events'))
    .option('--seed <s>', 'generator seed (the same seed gives the same stream)', int('seed'), 1)
    .option('--format <f>', 'output format (jsonl)', 'jsonl')
    .option('--rate <n>', 'event-time rate, events per second of event time', int('rate'), 10_000)
    .option('--base-time <ms>', 'event time of the first event (ms since the epoch)', int('base-time'))
    .option('--out-of-order-group <n>', 'permute event times within groups of n events (1 = in order)', int('out-of-order-group'), 1)
    .action((o: { events: number; seed: number; format: string; rate: number; baseTime?: number; outOfOrderGroup: number }) =>
      run(false, async () => {
        if (o.format !== 'jsonl') throw new EngineError('CONFIG_INVALID', `--format: only jsonl is supported, got ${JSON.stringify(o.format)}`);
        const config = parseNexmarkOptions({
          events: o.events, seed: o.seed, firstEventRate: o.rate, outOfOrderGroupSize: o.outOfOrderGroup,
          ...(o.baseTime === undefined ? {} : { baseTime: o.baseTime }),
        });
        const gen = new NexmarkGenerator(config);
        let buf = '';
        for (let n = 0; n < config.events; n++) {
          buf += JSON.stringify(gen.event(n)) + '\n';
          if (buf.length >= CHUNK_BYTES) {
            if (!process.stdout.write(buf)) await once(process.stdout, 'drain');
            buf = '';
          }
        }
        if (buf && !process.stdout.write(buf)) await once(process.stdout, 'drain');
      }),
    );
}
