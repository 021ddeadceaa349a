import type { ChannelFactory } from '../channel.js';
import { SLACK_REDIRECT_PATH } from './slack-install-link.js';

/**
 * Slack through Bolt, when SLACK_SIGNING_SECRET is set with SLACK_BOT_TOKEN (one Slack team, the
 * default workspace's), or with SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_STATE_SECRET (teams
 * install the app through OAuth, each into its workspace), or with both.
 */
export const slackChannels: ChannelFactory = async (config, { logger }) => {
  const oauthVariables = [config.SLACK_CLIENT_ID, config.SLACK_CLIENT_SECRET, config.SLACK_STATE_SECRET];
  const oauth = oauthVariables.every(Boolean);
  if (!oauth && oauthVariables.some(Boolean)) {
    logger.warn('Slack OAuth needs SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_STATE_SECRET together; installs through OAuth are off');
  }
  if (!config.SLACK_SIGNING_SECRET || (!config.SLACK_BOT_TOKEN && !oauth)) {
    if (config.SLACK_SIGNING_SECRET || config.SLACK_BOT_TOKEN || oauth) {
      logger.warn('Slack needs SLACK_SIGNING_SECRET with SLACK_BOT_TOKEN (or the SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, SLACK_STATE_SECRET of an OAuth app); the Slack channel is off');
    }
    return [];
  }
  const { SlackChannel } = await import('./slack-channel.js');
  return [
    new SlackChannel({
      signingSecret: config.SLACK_SIGNING_SECRET.reveal(),
      botToken: config.SLACK_BOT_TOKEN?.reveal(),
      ...(oauth && {
        oauth: {
          clientId: config.SLACK_CLIENT_ID!,
          clientSecret: config.SLACK_CLIENT_SECRET!.reveal(),
          stateSecret: config.SLACK_STATE_SECRET!.reveal(),
          scopes: config.SLACK_SCOPES,
          ...(config.PUBLIC_URL && { redirectUri: new URL(SLACK_REDIRECT_PATH, config.PUBLIC_URL).toString() }),
        },
      }),
      ...(config.SLACK_API_URL && { apiUrl: config.SLACK_API_URL }),
      slashCommand: config.SLACK_SLASH_COMMAND,
    }),
  ];
};
