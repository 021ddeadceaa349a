import type { Config } from '../config/config.js';
import type { WorkingHours } from '../tools/google/working-hours.js';

export interface HandoffSettings {
  /** HANDOFF_ENABLED: the request_human tool is offered. */
  enabled: boolean;
  /** HANDOFF_KEYWORDS, lower case: a message that is exactly one of them goes to a person without a model call. */
  keywords: readonly string[];
  /** HANDOFF_ON_FALLBACK: a turn answered with the fallback reply goes to a person. */
  onFallback: boolean;
  /** HANDOFF_ON_BUDGET: a turn a spent budget kept from the model goes to a person. */
  onBudget?: boolean;
  notice: string;
  noticeByChannel: Record<string, string>;
  /** HANDOFF_WAIT_NOTICE_S in ms; 0: no "everyone is busy" notice. */
  waitNoticeMs: number;
  busyNotice: string;
  /** With `{operator}`: an operator took the conversation straight from the agent. */
  joinedNotice: string;
  /** With `{back}` for when people are back (outside working hours). */
  closedNotice: string;
  /** When people answer; undefined: always (the busy notice is used). */
  hours?: WorkingHours | undefined;
  /** MAX_MESSAGE_CHARS: the longest operator reply or note. */
  maxTextChars: number;
}

/** HANDOFF_* and the working hours the "everyone is busy" notice speaks of. */
export function handoffSettingsFrom(config: Config): HandoffSettings {
  return {
    enabled: config.HANDOFF_ENABLED,
    keywords: config.HANDOFF_KEYWORDS.map((word) => word.toLowerCase()),
    onFallback: config.HANDOFF_ON_FALLBACK,
    onBudget: config.HANDOFF_ON_BUDGET,
    notice: config.HANDOFF_NOTICE,
    noticeByChannel: config.HANDOFF_NOTICE_BY_CHANNEL,
    waitNoticeMs: config.HANDOFF_WAIT_NOTICE_S * 1000,
    busyNotice: config.HANDOFF_BUSY_NOTICE,
    joinedNotice: config.HANDOFF_JOINED_NOTICE,
    closedNotice: config.HANDOFF_CLOSED_NOTICE,
    hours: {
      timeZone: config.WORKING_TIME_ZONE,
      startMinute: config.WORKING_HOURS.startMinute,
      endMinute: config.WORKING_HOURS.endMinute,
      days: config.WORKING_DAYS,
    },
    maxTextChars: config.MAX_MESSAGE_CHARS,
  };
}
