import { Cron } from 'croner';
import { InvalidScheduleError } from '../errors.ts';

/**
 * The next time (ms since epoch, strictly after `after`) a cron expression fires, in UTC.
 * Accepts 5-field (minute precision) and 6-field (with seconds) expressions.
 * Throws INVALID_SCHEDULE for an expression croner cannot parse.
 */
export function nextCronTime(expression: string, after: number): number {
  let cron: Cron;
  try {
    cron = new Cron(expression, { timezone: 'UTC', paused: true });
  } catch (err) {
    throw new InvalidScheduleError(`invalid cron expression ${JSON.stringify(expression)}`, { cron: expression }, { cause: err });
  }
  const next = cron.nextRun(new Date(after));
  if (!next) throw new InvalidScheduleError(`cron expression ${JSON.stringify(expression)} never fires`, { cron: expression });
  return next.getTime();
}
