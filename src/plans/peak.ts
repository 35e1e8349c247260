/**
 * Peak hours in a time zone. Local weekday and hour come from the platform's time zone
 * database (Intl), so daylight-saving changes move the peak window with the local clock.
 */
import type { PeakRule } from "./schema.ts";

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone,
      weekday: "short",
      hour: "numeric",
      hourCycle: "h23",
    });
    formatters.set(timeZone, format);
  }
  return format;
}

const ISO_WEEKDAY: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

/** The local ISO weekday (1 = Monday) and hour at an instant. */
export function localWeekdayAndHour(ms: number, timeZone: string): { weekday: number; hour: number } {
  let weekday = 0;
  let hour = 0;
  for (const part of formatter(timeZone).formatToParts(ms)) {
    if (part.type === "weekday") weekday = ISO_WEEKDAY[part.value] ?? 0;
    else if (part.type === "hour") hour = Number(part.value);
  }
  return { weekday, hour };
}

/** When a rule's peak is: its zone, weekdays and hours. */
type PeakHours = Pick<PeakRule, "time_zone" | "weekdays" | "hours">;

export function isPeak(rule: PeakHours | null, ms: number): boolean {
  if (!rule) return false;
  return isPeakHour(rule, localWeekdayAndHour(ms, rule.time_zone));
}

/** Whether a local weekday and hour fall in the rule's peak (for callers that know them). */
export function isPeakHour(rule: PeakHours, local: { weekday: number; hour: number }): boolean {
  return rule.weekdays.includes(local.weekday) && local.hour >= rule.hours[0] && local.hour < rule.hours[1];
}
