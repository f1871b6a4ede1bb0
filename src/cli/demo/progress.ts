/** The demo's progress line and the small formatting it shares with the summary. */

/** Where the demo writes: `process.stdout` or anything with `write` (tests). */
export interface DemoOutput {
  write(text: string): unknown;
  /** A terminal gets one redrawn progress line; anything else gets plain periodic lines. */
  isTTY?: boolean;
}

/** One redrawn line on a terminal; elsewhere a plain line every ~2 s. */
export class Progress {
  private timer: NodeJS.Timeout | null = null;
  private render: (() => string) | null = null;
  private readonly tty: boolean;
  private lastPlain = '';

  constructor(private readonly out: DemoOutput) {
    this.tty = out.isTTY === true;
  }

  start(render: () => string): void {
    this.stop();
    this.render = render;
    this.draw();
    this.timer = setInterval(() => this.draw(), this.tty ? 100 : 2_000);
  }

  /** Prints a line above the progress line. */
  line(text: string): void {
    if (this.tty && this.render) this.out.write('\r\x1b[K');
    this.out.write(text + '\n');
    if (this.tty && this.render) this.draw();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.render) {
      // The last state, kept on screen.
      if (this.tty) this.out.write(`\r\x1b[K${this.render()}\n`);
      else this.plain(this.render());
    }
    this.render = null;
  }

  private draw(): void {
    if (!this.render) return;
    if (this.tty) this.out.write(`\r\x1b[K${this.render()}`);
    else this.plain(this.render());
  }

  private plain(text: string): void {
    // Only the numbers matter in a log: the same line twice says nothing new.
    const numbers = text.replace(/ · [\d.]+ s$/, '');
    if (numbers === this.lastPlain) return;
    this.lastPlain = numbers;
    this.out.write(text + '\n');
  }
}

export function bar(done: number, total: number, width = 24): string {
  const full = Math.round((done / total) * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
}

export function plural(n: number, word: string, words = `${word}s`): string {
  return `${n} ${n === 1 ? word : words}`;
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
