/** A one-line progress bar on a TTY stream; silent elsewhere (pipes, CI logs). */
export function progressBar(stream: NodeJS.WriteStream, label: string): { update(done: number, total: number): void; end(): void } {
  const tty = stream.isTTY === true;
  let last = -1;
  const fmt = (n: number): string => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`);
  return {
    update(done, total) {
      if (!tty) return;
      const pct = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 100;
      if (pct === last) return;
      last = pct;
      const width = 30;
      const fill = Math.round((pct / 100) * width);
      stream.write(`\r${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${String(pct).padStart(3)}% ${fmt(done)}/${fmt(total)}`);
    },
    end() {
      if (tty && last >= 0) stream.write('\n');
    },
  };
}
