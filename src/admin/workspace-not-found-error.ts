import { SwitchboardError } from '../errors/index.js';

/** The code the admin API and the live feed answer with (404): the body names it, the status is `not_found`'s. */
export const WORKSPACE_NOT_FOUND = 'workspace_not_found';

/**
 * The workspace an admin caller chose (`x-switchboard-workspace`, the feed's `auth.workspace`) does
 * not exist, or is not one the caller may act in: the same answer for both, so an account of one
 * workspace never learns which others exist. A `not_found` SwitchboardError anywhere else; the
 * admin scope's error handler and the live feed give it its own code.
 */
export class WorkspaceNotFoundError extends SwitchboardError {
  override readonly name = 'WorkspaceNotFoundError';

  constructor() {
    super(WORKSPACE_NOT_FOUND, 'no workspace with this id');
  }

  body(): { code: typeof WORKSPACE_NOT_FOUND; message: string } {
    return { code: WORKSPACE_NOT_FOUND, message: this.message };
  }
}
