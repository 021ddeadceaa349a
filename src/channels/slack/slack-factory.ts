import type { ChannelFactory } from '../channel.js';

/** Slack through Bolt, when both SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN are set. */
export const slackChannels: ChannelFactory = async (config, { logger }) => {
  if (!config.SLACK_SIGNING_SECRET || !config.SLACK_BOT_TOKEN) {
    if (config.SLACK_SIGNING_SECRET || config.SLACK_BOT_TOKEN) {
      logger.warn('Slack needs both SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN; the Slack channel is off');
    }
    return [];
  }
  const { SlackChannel } = await import('./slack-channel.js');
  return [
    new SlackChannel({
      signingSecret: config.SLACK_SIGNING_SECRET.reveal(),
      botToken: config.SLACK_BOT_TOKEN.reveal(),
      ...(config.SLACK_API_URL && { apiUrl: config.SLACK_API_URL }),
      slashCommand: config.SLACK_SLASH_COMMAND,
    }),
  ];
};
