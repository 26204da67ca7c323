/**
 * The only source of time (architecture.md). With TEST_CLOCK=1 the offset can be moved forward
 * through `advanceTestClock`; otherwise it is the system time.
 */
export class Clock {
  private offsetMs = 0;

  constructor(private readonly adjustable: boolean) {}

  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }

  nowMs(): number {
    return Date.now() + this.offsetMs;
  }

  get isAdjustable(): boolean {
    return this.adjustable;
  }

  /** Moves this instance's time forward. Only a test clock moves. */
  advance(seconds: number): Date {
    if (!this.adjustable) throw new Error('the clock is not a test clock');
    if (!Number.isInteger(seconds) || seconds < 0) throw new RangeError('seconds must be a non-negative integer');
    this.offsetMs += seconds * 1000;
    return this.now();
  }
}

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

export function addMs(date: Date, ms: number): Date {
  return new Date(date.getTime() + ms);
}
