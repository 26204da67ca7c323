import { DAY, HOUR } from '../../platform/clock';

/** R5, pure. */
export const TRIAL_ACTIVE_DAYS = 5;
export const TRIAL_LENGTH_MS = 90 * DAY;
export const ACTIVE_WINDOW_MS = 24 * HOUR;
export const TRIAL_COOLDOWN_MS = 365 * DAY;

export type TrialRefusal = 'HAS_LICENSE' | 'ACTIVE_TRIAL' | 'RECENT_TRIAL';

/** R5.2: why a trial cannot be granted now, if it cannot. */
export function trialRefusal(facts: { holdsActiveNonTrial: boolean; trials: Array<{ createdAt: Date; over: boolean }> }, now: Date): TrialRefusal | undefined {
  if (facts.holdsActiveNonTrial) return 'HAS_LICENSE';
  if (facts.trials.some((t) => !t.over)) return 'ACTIVE_TRIAL';
  if (facts.trials.some((t) => now.getTime() - t.createdAt.getTime() < TRIAL_COOLDOWN_MS)) return 'RECENT_TRIAL';
  return undefined;
}

/**
 * R5.3: a start or heartbeat outside an open window uses the next active day and opens a new
 * 24-hour window; inside a window it uses nothing. With all days used and the last window closed,
 * the trial is over.
 */
export function activeDayEffect(trial: { activeDaysUsed: number; windowEndsAt: Date | null }, now: Date): 'INSIDE_WINDOW' | 'USES_DAY' | 'OVER' {
  if (trial.windowEndsAt && trial.windowEndsAt.getTime() > now.getTime()) return 'INSIDE_WINDOW';
  return trial.activeDaysUsed < TRIAL_ACTIVE_DAYS ? 'USES_DAY' : 'OVER';
}
