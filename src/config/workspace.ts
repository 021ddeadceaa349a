/**
 * The one workspace of a deployment that configures none. Every inbound message and turn
 * carries a workspace id, so data, settings and limits can be scoped per workspace later
 * without threading a new argument through the spine.
 */
export const DEFAULT_WORKSPACE_ID = 'default';
