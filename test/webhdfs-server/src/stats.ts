// Request counters, per listener and per op, so tests and benchmarks can count round trips.

export interface ListenerStats {
  /** All requests seen by the listener (control requests excluded). */
  requests: number;
  /** Requests per op (upper case); "-" for requests outside /webhdfs/v1. */
  byOp: Record<string, number>;
  /** Responses per status code. */
  byStatus: Record<string, number>;
  /** Body bytes received / sent for file data. */
  bytesIn: number;
  bytesOut: number;
}

export interface ServerStats {
  namenode: ListenerStats;
  datanode: ListenerStats;
  /** CREATE/APPEND requests that carried a body to the NameNode (a client bug). */
  nnBodyRejected: number;
  /** Random failures injected (failRate). */
  injectedFaults: number;
  /** Uploads that ended without the full body (client abort or DN death). */
  abortedUploads: number;
  /** Zeroes every counter. */
  reset(): void;
}

function emptyListener(): ListenerStats {
  return { requests: 0, byOp: {}, byStatus: {}, bytesIn: 0, bytesOut: 0 };
}

export function createStats(): ServerStats {
  const s: ServerStats = {
    namenode: emptyListener(),
    datanode: emptyListener(),
    nnBodyRejected: 0,
    injectedFaults: 0,
    abortedUploads: 0,
    reset() {
      // In place, so references held by callers stay live.
      Object.assign(s.namenode, emptyListener());
      Object.assign(s.datanode, emptyListener());
      s.nnBodyRejected = 0;
      s.injectedFaults = 0;
      s.abortedUploads = 0;
    },
  };
  return s;
}

export function countRequest(l: ListenerStats, op: string): void {
  l.requests++;
  l.byOp[op] = (l.byOp[op] ?? 0) + 1;
}

export function countStatus(l: ListenerStats, status: number): void {
  l.byStatus[status] = (l.byStatus[status] ?? 0) + 1;
}
