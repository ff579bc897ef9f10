export { nexmarkOptionsSchema, parseNexmarkOptions, type NexmarkOptions, type NexmarkConfig } from './config.js';
export { NexmarkGenerator, FIRST_AUCTION_ID, FIRST_PERSON_ID, FIRST_CATEGORY_ID, type NexmarkEvent, type Person, type Auction, type Bid } from './generator.js';
export { nexmarkSource, nexmarkEvents } from './source.js';
export { REFERENCES, ROW_REFERENCES, referenceLines, diffOutput, compareBids, type QueryKind } from './reference.js';
export { NEXMARK_QUERIES, type NexmarkQueryInfo } from './queries.js';
export { STREAMED_REFERENCES, type Events } from './reference-stream.js';
