import type { NexmarkConfig } from './config.js';

/** The three Nexmark event kinds (field names as in nexmark/nexmark's model and DDL). */
export interface Person {
  type: 'person';
  id: number;
  name: string;
  emailAddress: string;
  creditCard: string;
  city: string;
  state: string;
  dateTime: number;
  extra: string;
}
export interface Auction {
  type: 'auction';
  id: number;
  itemName: string;
  description: string;
  initialBid: number;
  reserve: number;
  dateTime: number;
  expires: number;
  seller: number;
  category: number;
  extra: string;
}
export interface Bid {
  type: 'bid';
  auction: number;
  bidder: number;
  price: number;
  channel: string;
  url: string;
  dateTime: number;
  extra: string;
}
export type NexmarkEvent = Person | Auction | Bid;

// Constants of the Nexmark generator (GeneratorConfig, *Generator.java).
export const FIRST_PERSON_ID = 1000;
export const FIRST_AUCTION_ID = 1000;
export const FIRST_CATEGORY_ID = 10;
const NUM_CATEGORIES = 5;
const PERSON_ID_LEAD = 10;
const AUCTION_ID_LEAD = 10;
/** The batch size that picks the one hot auction/seller/bidder among the last ids. */
const HOT_AUCTION_RATIO = 100;
const HOT_SELLER_RATIO = 100;
const HOT_BIDDER_RATIO = 100;
const HOT_CHANNELS_RATIO = 2;
const CHANNELS_NUMBER = 10_000;
const HOT_CHANNELS = ['Google', 'Facebook', 'Baidu', 'Apple'];
const US_STATES = ['AZ', 'CA', 'ID', 'OR', 'WA', 'WY'];
const US_CITIES = ['Phoenix', 'Los Angeles', 'San Francisco', 'Boise', 'Portland', 'Bend', 'Redmond', 'Seattle', 'Kent', 'Cheyenne'];
const FIRST_NAMES = ['Peter', 'Paul', 'Luke', 'John', 'Saul', 'Vicky', 'Kate', 'Julie', 'Sarah', 'Deiter', 'Walter'];
const LAST_NAMES = ['Shultz', 'Abrams', 'Spencer', 'White', 'Bartels', 'Walton', 'Smith', 'Jones', 'Noris'];
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

/**
 * sfc32 seeded per event: Beam seeds a fresh Random with the event id, which is what makes
 * an event a pure function of its number (splittable and replayable). 32-bit is plenty for
 * the bounded choices the generator makes.
 */
class Rng {
  #a = 0;
  #b = 0;
  #c = 0;
  #d = 1;
  reset(seed: number, id: number): void {
    const lo = id >>> 0;
    const hi = Math.floor(id / 4294967296) >>> 0;
    this.#a = mix(seed ^ 0x9e3779b9);
    this.#b = mix(lo ^ 0x85ebca6b);
    this.#c = mix(hi ^ 0xc2b2ae35 ^ this.#a);
    this.#d = 1;
    for (let i = 0; i < 8; i++) this.u32();
  }
  u32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }
  /** Uniform in [0, n) for n ≤ 2^32. */
  int(n: number): number {
    return Math.floor((this.u32() / 4294967296) * n);
  }
  /** Uniform in [0, n) for any safe n (two draws when n needs them). */
  long(n: number): number {
    if (n <= 4294967296) return this.int(n);
    return Math.floor(((this.u32() * 4294967296 + this.u32()) / 18446744073709551616) * n);
  }
  double(): number {
    return (this.u32() * 4294967296 + this.u32()) / 18446744073709551616;
  }
}

function mix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

/** StringsGenerator.nextString: 3..maxLength-1 letters, about 1 in 13 a space, trimmed. */
function nextString(r: Rng, maxLength: number, space = ' '): string {
  let len = 3 + r.int(maxLength - 3);
  let s = '';
  while (len-- > 0) s += r.int(13) === 0 ? space : LETTERS[r.int(26)]!;
  return space === ' ' ? s.trim() : s;
}

/** StringsGenerator.nextExactString: one 32-bit draw for every 6 letters. */
function nextExactString(r: Rng, length: number): string {
  let s = '';
  let rnd = 0;
  let n = 0;
  while (length-- > 0) {
    if (n === 0) {
      rnd = r.u32() & 0x7fffffff;
      n = 6;
    }
    s += LETTERS[rnd % 26]!;
    rnd = Math.floor(rnd / 26);
    n--;
  }
  return s;
}

/** StringsGenerator.nextExtra: pads a record to `avg` bytes on average (±20%). */
function nextExtra(r: Rng, currentSize: number, avg: number): string {
  if (currentSize > avg) return '';
  avg -= currentSize;
  const delta = Math.round(avg * 0.2);
  return nextExactString(r, avg - delta + (delta === 0 ? 0 : r.int(2 * delta)));
}

/** PriceGenerator: log-uniform cents in [100, 1e8]. */
function nextPrice(r: Rng): number {
  return Math.round(Math.pow(10, r.double() * 6) * 100);
}

interface Channels {
  hotUrls: string[];
  channels: Array<[string, string]>;
}
const channelCache = new Map<number, Channels>();

/** The 10 000 channel/url pairs and the 4 hot urls (random in nexmark-flink; here from the seed). */
function channelsFor(seed: number): Channels {
  let c = channelCache.get(seed);
  if (c) return c;
  const r = new Rng();
  r.reset(seed, -1);
  const baseUrl = (): string => `https://www.nexmark.com/${nextString(r, 5, '_')}/${nextString(r, 5, '_')}/${nextString(r, 5, '_')}/item.htm?query=1`;
  const hotUrls = HOT_CHANNELS.map(() => baseUrl());
  const channels: Array<[string, string]> = [];
  for (let i = 0; i < CHANNELS_NUMBER; i++) {
    let url = baseUrl();
    // Java's Math.abs(Integer.reverse(i)): a bit-reversed id, so ids look unrelated to i.
    if (r.int(10) > 0) url += `&channel_id=${Math.abs(reverseBits(i) | 0)}`;
    channels.push([`channel-${i}`, url]);
  }
  c = { hotUrls, channels };
  channelCache.set(seed, c);
  return c;
}

function reverseBits(x: number): number {
  x = ((x >>> 1) & 0x55555555) | ((x & 0x55555555) << 1);
  x = ((x >>> 2) & 0x33333333) | ((x & 0x33333333) << 2);
  x = ((x >>> 4) & 0x0f0f0f0f) | ((x & 0x0f0f0f0f) << 4);
  x = ((x >>> 8) & 0x00ff00ff) | ((x & 0x00ff00ff) << 8);
  return (x >>> 16) | (x << 16);
}

/**
 * Event n of the stream: a pure function of (config, n), so any task can produce any
 * subset (parallel source task i of p produces n ≡ i mod p) and a replay from n is exact.
 */
export class NexmarkGenerator {
  readonly #c: NexmarkConfig;
  readonly #total: number;
  readonly #delayUs: number;
  readonly #rng = new Rng();
  readonly #channels: Channels;

  constructor(config: NexmarkConfig) {
    this.#c = config;
    this.#total = config.personProportion + config.auctionProportion + config.bidProportion;
    this.#delayUs = 1_000_000 / config.firstEventRate;
    this.#channels = channelsFor(config.seed);
  }

  get config(): NexmarkConfig {
    return this.#c;
  }

  /** GeneratorConfig.nextAdjustedEventNumber: Beam's jitter within groups of outOfOrderGroupSize. */
  adjustedNumber(n: number): number {
    const g = this.#c.outOfOrderGroupSize;
    if (g === 1) return n;
    return Math.floor(n / g) * g + ((n * 953) % g);
  }

  /** Event time of event number n before any occasional delay. */
  timestampFor(n: number): number {
    return this.#c.baseTime + Math.floor(Math.floor(n * this.#delayUs) / 1000);
  }

  /** Which kind event number n is (cheap: no record built). */
  kindOf(n: number): NexmarkEvent['type'] {
    const rem = this.adjustedNumber(n) % this.#total;
    return rem < this.#c.personProportion ? 'person' : rem < this.#c.personProportion + this.#c.auctionProportion ? 'auction' : 'bid';
  }

  event(n: number): NexmarkEvent {
    const c = this.#c;
    const id = this.adjustedNumber(n);
    const r = this.#rng;
    r.reset(c.seed, id);
    let ts = this.timestampFor(id);
    if (c.probDelayedEvent > 0 && c.maxDelayMs > 0 && r.double() < c.probDelayedEvent) ts -= 1 + r.int(c.maxDelayMs);
    const rem = id % this.#total;
    if (rem < c.personProportion) return this.#person(id, r, ts);
    if (rem < c.personProportion + c.auctionProportion) return this.#auction(id, r, ts);
    return this.#bid(id, r, ts);
  }

  #lastPerson(id: number): number {
    const epoch = Math.floor(id / this.#total);
    let offset = id % this.#total;
    if (offset >= this.#c.personProportion) offset = this.#c.personProportion - 1;
    return epoch * this.#c.personProportion + offset;
  }

  #lastAuction(id: number): number {
    const c = this.#c;
    let epoch = Math.floor(id / this.#total);
    let offset = id % this.#total;
    if (offset < c.personProportion) {
      epoch--;
      offset = c.auctionProportion - 1;
    } else if (offset >= c.personProportion + c.auctionProportion) {
      offset = c.auctionProportion - 1;
    } else {
      offset -= c.personProportion;
    }
    return epoch * c.auctionProportion + offset;
  }

  /** A random active person, possibly a few ids ahead of the last one generated (leads). */
  #randomPerson(id: number, r: Rng): number {
    const numPeople = this.#lastPerson(id) + 1;
    const active = Math.min(numPeople, this.#c.numActivePeople);
    return numPeople - active + r.long(active + PERSON_ID_LEAD);
  }

  #randomAuction(id: number, r: Rng): number {
    const max = this.#lastAuction(id);
    const min = Math.max(max - this.#c.numInFlightAuctions, 0);
    return min + r.long(max - min + 1 + AUCTION_ID_LEAD);
  }

  #person(id: number, r: Rng, ts: number): Person {
    const name = `${FIRST_NAMES[r.int(FIRST_NAMES.length)]!} ${LAST_NAMES[r.int(LAST_NAMES.length)]!}`;
    const emailAddress = `${nextString(r, 7)}@${nextString(r, 5)}.com`;
    const cc: string[] = [];
    for (let i = 0; i < 4; i++) cc.push(String(r.int(10000)).padStart(4, '0'));
    const creditCard = cc.join(' ');
    const city = US_CITIES[r.int(US_CITIES.length)]!;
    const state = US_STATES[r.int(US_STATES.length)]!;
    const size = 8 + name.length + emailAddress.length + creditCard.length + city.length + state.length;
    const extra = nextExtra(r, size, this.#c.avgPersonByteSize);
    return { type: 'person', id: this.#lastPerson(id) + FIRST_PERSON_ID, name, emailAddress, creditCard, city, state, dateTime: ts, extra };
  }

  #auction(id: number, r: Rng, ts: number): Auction {
    const c = this.#c;
    const seller = (r.int(c.hotSellersRatio) > 0 ? Math.floor(this.#lastPerson(id) / HOT_SELLER_RATIO) * HOT_SELLER_RATIO : this.#randomPerson(id, r)) + FIRST_PERSON_ID;
    const category = FIRST_CATEGORY_ID + r.int(NUM_CATEGORIES);
    const initialBid = nextPrice(r);
    // nextAuctionLengthMs: on average the time until numInFlightAuctions more auctions exist.
    const eventsForAuctions = Math.floor((c.numInFlightAuctions * this.#total) / c.auctionProportion);
    const horizonMs = this.timestampFor(id + eventsForAuctions) - this.timestampFor(id);
    const expires = ts + 1 + r.long(Math.max(horizonMs * 2, 1));
    const itemName = nextString(r, 20);
    const description = nextString(r, 100);
    const reserve = initialBid + nextPrice(r);
    const extra = nextExtra(r, 8 + itemName.length + description.length + 40, c.avgAuctionByteSize);
    return { type: 'auction', id: this.#lastAuction(id) + FIRST_AUCTION_ID, itemName, description, initialBid, reserve, dateTime: ts, expires, seller, category, extra };
  }

  #bid(id: number, r: Rng, ts: number): Bid {
    const c = this.#c;
    const auction = (r.int(c.hotAuctionRatio) > 0 ? Math.floor(this.#lastAuction(id) / HOT_AUCTION_RATIO) * HOT_AUCTION_RATIO : this.#randomAuction(id, r)) + FIRST_AUCTION_ID;
    // The second person of the batch, so hot bidders and hot sellers differ.
    const bidder = (r.int(c.hotBiddersRatio) > 0 ? Math.floor(this.#lastPerson(id) / HOT_BIDDER_RATIO) * HOT_BIDDER_RATIO + 1 : this.#randomPerson(id, r)) + FIRST_PERSON_ID;
    const price = nextPrice(r);
    let channel: string;
    let url: string;
    if (r.int(HOT_CHANNELS_RATIO) > 0) {
      const i = r.int(HOT_CHANNELS.length);
      channel = HOT_CHANNELS[i]!;
      url = this.#channels.hotUrls[i]!;
    } else {
      [channel, url] = this.#channels.channels[r.int(CHANNELS_NUMBER)]!;
    }
    const extra = nextExtra(r, 32, c.avgBidByteSize);
    return { type: 'bid', auction, bidder, price, channel, url, dateTime: ts, extra };
  }
}
