// Workspaces in the console: the owner's list of every workspace (create, suspend, widget key,
// channel bindings, refused inbound messages) and the header's switcher that picks the workspace
// the console acts in; an admin's Workspace view of its own (widget snippet, allowed origins,
// settings over the deployment's, credentials shown masked).
import { actingWorkspace, ApiError, get, send, setActingWorkspace } from './api.js';
import { clear, el, formatTime } from './views.js';

const $ = (selector) => document.querySelector(selector);

const CHANNELS = [
  ['sms', 'SMS', 'Twilio number, e.g. +14155550100'],
  ['whatsapp', 'WhatsApp (Twilio)', 'Twilio WhatsApp sender, e.g. +14155550100'],
  ['whatsapp-cloud', 'WhatsApp Cloud', 'phone number id, e.g. 106540352242922'],
  ['slack', 'Slack', 'team id, e.g. T024BE7LD'],
];
const channelName = (channel) => CHANNELS.find(([id]) => id === channel)?.[1] ?? channel;

/** What each overridable setting does, in a few words (README "Configuration" has the rest). */
const SETTING_HINTS = {
  SYSTEM_PROMPT: 'what the agent is told about this business',
  LLM_PROVIDERS: 'provider order, e.g. anthropic,openai',
  MAX_TOOL_STEPS: 'tool calls per turn (1–50)',
  MAX_OUTPUT_TOKENS: 'longest reply, in tokens',
  ENABLED_TOOLS: 'the tools this workspace offers; empty: every configured tool',
  TOOL_CHANNEL_POLICY: 'channel=tool,tool;channel=',
  SENSITIVE_TOOLS: 'tools the person confirms first',
  CONFIRMATION_TTL_S: 'seconds a confirmation stays open',
  CHECKOUT_CONFIRM_ABOVE: 'checkout totals above this need confirming',
  CHECKOUT_CONFIRM_CURRENCY: 'the currency of that amount',
  CHECKOUT_CONFIRM_ABOVE_BY_CURRENCY: 'per currency, e.g. jpy:50000,eur:100',
  FALLBACK_REPLY: 'the reply when no model answers',
  FALLBACK_REPLY_BY_CHANNEL: 'JSON, e.g. {"sms":"…"}',
  HANDOFF_ENABLED: 'true or false',
  HANDOFF_KEYWORDS: 'words that ask for a person',
  HANDOFF_ON_FALLBACK: 'hand over when no model answers',
  HANDOFF_NOTICE: 'told to the person when handed over',
  HANDOFF_NOTICE_BY_CHANNEL: 'JSON, per channel',
  HANDOFF_JOINED_NOTICE: 'told when an operator joins',
  HANDOFF_BUSY_NOTICE: 'told when nobody claims it',
  HANDOFF_CLOSED_NOTICE: 'told outside working hours',
  WORKING_HOURS: 'HH:MM-HH:MM',
  WORKING_DAYS: 'e.g. mon,tue,wed,thu,fri',
  WORKING_TIME_ZONE: 'e.g. Europe/Berlin',
  BUDGET_CONVERSATION_USD: 'spend limit per conversation',
  BUDGET_USER_DAILY_USD: 'spend limit per person per day',
  BUDGET_GLOBAL_DAILY_USD: 'spend limit of this workspace per day',
  BUDGET_REPLY: 'the reply once a budget is spent',
  BUDGET_REPLY_BY_CHANNEL: 'JSON, per channel',
  HANDOFF_ON_BUDGET: 'hand over once a budget is spent',
  RATE_LIMIT_USER_PER_MINUTE: 'messages per person per minute',
  RATE_LIMIT_IP_PER_MINUTE: 'messages per address per minute',
};
/** Settings written as prose get a text area. */
const LONG_SETTINGS = /^(SYSTEM_PROMPT|FALLBACK_REPLY|HANDOFF_.*NOTICE|BUDGET_REPLY)/;

const MODES = {
  override: "the workspace's when stored, else the deployment's",
  workspace: "the workspace's only (none stored: off)",
  global: "the deployment's for every workspace: what is stored here is not used",
};

function errorText(error) {
  return error instanceof ApiError ? error.message || error.code : String(error?.message ?? error);
}

/** Runs an action of a form or button: its errors go to `target` (in words `describe` gives), a 401 to the login. */
async function act(target, task, { onUnauthorized, describe = errorText }) {
  const node = typeof target === 'string' ? $(target) : target;
  node.textContent = '';
  try {
    await task();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return onUnauthorized();
    node.textContent = describe(error);
    node.title = error instanceof ApiError ? `${error.status} ${error.code}` : '';
  }
}

const lines = (text) => text.split(/[\s,]+/).map((line) => line.trim()).filter(Boolean);

// ---------- the header: which workspace the console acts in ----------

/**
 * Shows the workspace entries this account may use, and for an owner fills the switcher with
 * every workspace. Picking one keeps it for this tab and reloads the console in it, so every view,
 * the inbox count and the live feed start over in that workspace.
 */
export async function setupWorkspaces(me) {
  const owner = me.role === 'owner';
  $('#nav-workspaces').hidden = !owner;
  $('#nav-workspace').hidden = !(owner || me.role === 'admin');
  $('#workspace-name').textContent = me.workspace && !owner ? me.workspace.name : '';
  $('#workspace-name').hidden = !me.workspace || owner;
  if (!owner) return;
  const { items } = await get('/api/admin/workspaces');
  const current = actingWorkspace() ?? 'default';
  const select = $('#workspace-switcher');
  clear(select);
  for (const workspace of items) {
    select.append(el('option', { value: workspace.id, selected: workspace.id === current }, `${workspace.name}${workspace.status === 'suspended' ? ' (suspended)' : ''}`));
  }
  $('#workspace-switcher-label').hidden = false;
  select.onchange = () => {
    setActingWorkspace(select.value === 'default' ? null : select.value);
    location.reload();
  };
}

// ---------- the owner's view: every workspace ----------

function statusBadge(status) {
  return el('span', { class: `badge ws-${status === 'active' ? 'active' : 'suspended'}` }, status);
}

function workspaceRow(workspace, { onChange, onUnauthorized }) {
  const error = el('p', { class: 'error', role: 'alert' });
  const run = (task) => act(error, async () => onChange(await task()), { onUnauthorized });
  const channels = el(
    'ul',
    { class: 'chips' },
    workspace.channels.map((binding) =>
      el(
        'li',
        { class: 'chip', dataset: { channel: binding.channel, identity: binding.identity } },
        el('span', { class: 'muted' }, channelName(binding.channel)),
        el('span', { class: 'tool' }, binding.identity),
        el('button', {
          type: 'button',
          class: 'chip-remove',
          title: `Unbind ${binding.identity}`,
          'aria-label': `Unbind ${channelName(binding.channel)} ${binding.identity}`,
          onclick: () => run(() => send('DELETE', `/api/admin/workspaces/${workspace.id}/channels`, binding)),
        }, '×'),
      ),
    ),
  );
  return el(
    'tr',
    { class: 'static', dataset: { workspace: workspace.slug, status: workspace.status } },
    el('td', {}, el('strong', {}, workspace.name), el('div', { class: 'muted tool' }, workspace.slug, workspace.isDefault && workspace.slug !== 'default' ? ' · default' : '')),
    el('td', {}, statusBadge(workspace.status)),
    el('td', { class: 'tool widget-key' }, workspace.widgetKey),
    el('td', {}, workspace.allowedOrigins.length === 0 ? el('span', { class: 'muted' }, 'any') : workspace.allowedOrigins.map((origin) => el('div', { class: 'tool' }, origin))),
    el('td', {}, workspace.channels.length === 0 ? el('span', { class: 'muted' }, 'none') : channels),
    el('td', { class: 'num' }, String(workspace.accounts ?? 0)),
    el(
      'td',
      {},
      el(
        'div',
        { class: 'row-actions' },
        el('button', {
        type: 'button',
        class: 'secondary',
        onclick: () => {
          setActingWorkspace(workspace.isDefault ? null : workspace.id);
          location.hash = '#/workspace';
          location.reload();
        },
      }, 'Open'),
      workspace.isDefault
        ? null
        : el('button', {
            type: 'button',
            class: 'secondary',
            onclick: () => run(() => send('PATCH', `/api/admin/workspaces/${workspace.id}`, { status: workspace.status === 'active' ? 'suspended' : 'active' })),
          }, workspace.status === 'active' ? 'Suspend' : 'Activate'),
      el('button', {
        type: 'button',
        class: 'secondary',
        title: 'The old key stops working at once: pages embedding it need the new snippet',
        onclick: () => window.confirm(`Give ${workspace.name} a new widget key? Pages with the old snippet stop working.`) && run(() => send('POST', `/api/admin/workspaces/${workspace.id}/widget-key`)),
      }, 'New widget key'),
        error,
      ),
    ),
  );
}

function refusalsTable(items) {
  if (items.length === 0) return el('p', { class: 'empty-state', id: 'refusals-empty' }, 'No inbound message was refused. Messages to an identity no workspace has are listed here.');
  return el(
    'div',
    { class: 'table-wrap' },
    el(
      'table',
      { id: 'refusals-table', class: 'small' },
      el('thead', {}, el('tr', {}, el('th', {}, 'time'), el('th', {}, 'channel'), el('th', {}, 'receiving identity'), el('th', {}, 'reason'))),
      el(
        'tbody',
        {},
        items.map((item) => el('tr', { class: 'static' }, el('td', { class: 'nowrap' }, formatTime(item.createdAt)), el('td', {}, item.channel), el('td', { class: 'tool' }, item.identity), el('td', {}, item.reason.replaceAll('_', ' ')))),
      ),
    ),
  );
}

/** The Workspaces view (owners): the table, then the forms to create one and to bind an identity, then refusals. */
export async function loadWorkspaces({ onUnauthorized }) {
  await act('#workspaces-error', async () => {
    const [{ items }, refusals] = await Promise.all([get('/api/admin/workspaces'), get('/api/admin/workspace/refusals', { limit: 50 })]);
    const reload = () => loadWorkspaces({ onUnauthorized });
    const body = $('#workspaces-table tbody');
    clear(body);
    for (const workspace of items) body.append(workspaceRow(workspace, { onChange: reload, onUnauthorized }));
    const select = $('#workspace-bind select[name=workspace]');
    const chosen = select.value;
    clear(select);
    for (const workspace of items) select.append(el('option', { value: workspace.id, selected: workspace.id === chosen }, workspace.name));
    const target = $('#refusals');
    clear(target);
    target.append(refusalsTable(refusals.items));
  }, { onUnauthorized });
}

export function bindWorkspaceForms({ onUnauthorized }) {
  const reload = () => loadWorkspaces({ onUnauthorized });
  const create = $('#workspace-create');
  create.addEventListener('submit', (event) => {
    event.preventDefault();
    const form = new FormData(create);
    act('#workspace-create-error', async () => {
      const created = await send('POST', '/api/admin/workspaces', {
        name: String(form.get('name') ?? '').trim(),
        slug: String(form.get('slug') ?? '').trim(),
        allowedOrigins: lines(String(form.get('origins') ?? '')),
      });
      create.reset();
      $('#workspace-create-done').textContent = `Created ${created.name}. Open it to set its settings and credentials.`;
      await Promise.all([reload(), refreshSwitcher()]);
    }, { onUnauthorized });
  });
  // The slug follows the name until someone types one.
  const name = create.querySelector('input[name=name]');
  const slug = create.querySelector('input[name=slug]');
  slug.addEventListener('input', () => (slug.dataset.typed = 'true'));
  name.addEventListener('input', () => {
    if (slug.dataset.typed !== 'true') slug.value = name.value.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40);
  });
  create.addEventListener('reset', () => delete slug.dataset.typed);

  const bind = $('#workspace-bind');
  const channel = bind.querySelector('select[name=channel]');
  const identity = bind.querySelector('input[name=identity]');
  clear(channel);
  for (const [id, label] of CHANNELS) channel.append(el('option', { value: id }, label));
  const hint = () => (identity.placeholder = CHANNELS.find(([id]) => id === channel.value)?.[2] ?? '');
  channel.addEventListener('change', hint);
  hint();
  bind.addEventListener('submit', (event) => {
    event.preventDefault();
    const form = new FormData(bind);
    act('#workspace-bind-error', async () => {
      await send('POST', `/api/admin/workspaces/${form.get('workspace')}/channels`, { channel: form.get('channel'), identity: String(form.get('identity') ?? '').trim() });
      identity.value = '';
      await reload();
    }, { onUnauthorized });
  });
}

async function refreshSwitcher() {
  const me = await get('/api/admin/me');
  await setupWorkspaces(me);
}

// ---------- an admin's view: the caller's workspace ----------

function widgetCard(workspace) {
  const copied = el('span', { class: 'muted', role: 'status' });
  const snippet = el('pre', { id: 'embed-snippet', class: 'snippet' }, workspace.embedSnippet);
  return el(
    'section',
    { class: 'card', 'aria-labelledby': 'widget-heading' },
    el('h2', { id: 'widget-heading' }, 'Chat widget'),
    el('p', { class: 'muted' }, 'Paste this where the page should show the chat. The key only tells the server which workspace the chat belongs to.'),
    snippet,
    el(
      'div',
      { class: 'form-row' },
      el('span', {}, 'Widget key ', el('code', { id: 'widget-key' }, workspace.widgetKey)),
      el('span', { class: 'actions' }, copied, el('button', {
        type: 'button',
        id: 'copy-snippet',
        onclick: async () => {
          try {
            await navigator.clipboard.writeText(workspace.embedSnippet);
            copied.textContent = 'Copied';
          } catch {
            // No clipboard (an insecure origin, a refused permission): select it for Ctrl+C.
            getSelection().selectAllChildren(snippet);
            copied.textContent = 'Selected: press Ctrl+C';
          }
        },
      }, 'Copy snippet')),
    ),
  );
}

function originsCard(workspace, { save }) {
  const error = el('p', { class: 'error', role: 'alert' });
  const area = el('textarea', { id: 'allowed-origins', rows: '3', 'aria-describedby': 'origins-hint', placeholder: 'https://shop.example' }, workspace.allowedOrigins.join('\n'));
  return el(
    'form',
    {
      class: 'card',
      id: 'origins-form',
      onsubmit: (event) => {
        event.preventDefault();
        save(error, () => send('PUT', '/api/admin/workspace/origins', { allowedOrigins: lines(area.value) }));
      },
    },
    el('h2', {}, 'Allowed origins'),
    el('label', { for: 'allowed-origins' }, 'Pages that may embed the widget, one per line'),
    area,
    el('div', { class: 'form-row' }, el('span', { id: 'origins-hint', class: 'muted' }, 'Empty: any page. An origin is a scheme and host, e.g. https://shop.example'), el('button', { type: 'submit' }, 'Save origins')),
    error,
  );
}

function settingsCard(workspace, { save }) {
  const error = el('p', { class: 'error', role: 'alert' });
  const fields = new Map();
  const rows = workspace.effective.map((entry) => {
    const id = `setting-${entry.key}`;
    const stored = workspace.settings[entry.key];
    const value = stored === undefined || stored === null ? '' : String(stored);
    const deployment = entry.key === 'ENABLED_TOOLS' ? 'every configured tool' : entry.deployment === '' ? 'unset' : entry.deployment;
    const input = LONG_SETTINGS.test(entry.key)
      ? el('textarea', { id, name: entry.key, rows: entry.key === 'SYSTEM_PROMPT' ? '5' : '2', placeholder: entry.deployment }, value)
      : el('input', { id, name: entry.key, value, placeholder: entry.deployment, autocomplete: 'off', spellcheck: 'false' });
    fields.set(entry.key, input);
    const problem = el('span', { class: 'error setting-problem' });
    return el(
      'div',
      { class: `setting source-${entry.source}`, dataset: { key: entry.key } },
      el('label', { for: id }, el('code', {}, entry.key), el('span', { class: 'muted' }, SETTING_HINTS[entry.key] ?? '')),
      input,
      el(
        'p',
        { class: 'setting-effective' },
        entry.source === 'workspace'
          ? [el('span', { class: 'badge ws-own' }, 'this workspace'), ' ', el('span', { class: 'muted' }, 'deployment: '), el('span', { class: 'value' }, deployment)]
          : [el('span', { class: 'badge status-off' }, 'deployment'), ' ', el('span', { class: 'value' }, deployment)],
      ),
      problem,
    );
  });
  return el(
    'form',
    {
      class: 'card settings-card',
      id: 'settings-form',
      onsubmit: (event) => {
        event.preventDefault();
        for (const node of event.currentTarget.querySelectorAll('.setting-problem')) node.textContent = '';
        const settings = {};
        for (const [key, input] of fields) if (input.value.trim() !== '') settings[key] = input.value.trim();
        const form = event.currentTarget;
        let placed = 0;
        save(
          error,
          () => send('PUT', '/api/admin/workspace/settings', { settings }),
          (failure) => {
            // Each problem next to its setting ("KEY: what is wrong").
            for (const problem of failure.details?.problems ?? []) {
              const key = problem.split(':')[0];
              const row = form.querySelector(`.setting[data-key="${CSS.escape(key)}"] .setting-problem`);
              if (row) {
                row.textContent = problem.slice(key.length + 1).trim();
                placed++;
              }
            }
            form.querySelector('.setting-problem:not(:empty)')?.scrollIntoView({ block: 'center' });
          },
          (failure) => (placed > 0 ? `Not saved: ${placed === 1 ? 'one setting needs' : `${placed} settings need`} fixing (marked in red).` : errorText(failure)),
        );
      },
    },
    el('h2', {}, 'Settings'),
    el('p', { class: 'muted' }, "Each one overrides the deployment's value for this workspace only; empty keeps the deployment's (shown greyed)."),
    el('div', { class: 'settings-grid' }, rows),
    el('div', { class: 'form-row sticky-save' }, error, el('button', { type: 'submit' }, 'Save settings')),
  );
}

function credentialRow(entry, { save, fromEnvironment }) {
  const error = el('p', { class: 'error', role: 'alert' });
  const fields = entry.fields.filter((field) => field.name !== 'installation');
  const inputs = fields.map((field) => {
    const id = `credential-${entry.integration}-${field.name}`;
    const input = field.name.endsWith('_JSON')
      ? el('textarea', { id, name: field.name, rows: '3', spellcheck: 'false', autocomplete: 'off' })
      : el('input', { id, name: field.name, type: field.secret ? 'password' : 'text', autocomplete: field.secret ? 'new-password' : 'off', spellcheck: 'false' });
    return el('label', { for: id, class: 'credential-field' }, el('code', {}, field.name), field.required ? '' : el('span', { class: 'muted' }, ' optional'), input);
  });
  const form = el(
    'form',
    {
      class: 'credential-form',
      hidden: true,
      onsubmit: (event) => {
        event.preventDefault();
        const values = {};
        for (const field of fields) {
          const value = form.elements.namedItem(field.name).value.trim();
          if (value !== '') values[field.name] = value;
        }
        save(error, () => send('PUT', `/api/admin/workspace/credentials/${entry.integration}`, { values }));
      },
    },
    inputs,
    el('div', { class: 'actions' }, el('button', { type: 'submit' }, 'Save'), el('button', { type: 'button', class: 'link', onclick: () => (form.hidden = true) }, 'Cancel')),
    el('p', { class: 'muted' }, 'Stored encrypted. Saved values are never shown again, only masked.'),
  );
  const masked = entry.stored
    ? el('dl', { class: 'masked' }, Object.entries(entry.stored.masked).flatMap(([field, value]) => [el('dt', {}, el('code', {}, field)), el('dd', { class: 'tool' }, value)]))
    : el('p', { class: 'muted' }, 'not stored');
  return el(
    'div',
    { class: 'credential', dataset: { integration: entry.integration } },
    el(
      'div',
      { class: 'credential-head' },
      el('strong', {}, entry.integration),
      el('span', { class: `badge mode-${entry.mode}`, title: MODES[entry.mode] ?? '' }, entry.mode),
      entry.stored ? el('span', { class: 'muted' }, `updated ${formatTime(entry.stored.updatedAt)}`) : null,
      fromEnvironment
        ? null
        : el(
            'span',
            { class: 'actions' },
            el('button', { type: 'button', class: 'secondary', onclick: () => (form.hidden = !form.hidden) }, entry.stored ? 'Replace' : 'Add'),
            entry.stored
              ? el('button', {
                  type: 'button',
                  class: 'secondary danger',
                  onclick: () => window.confirm(`Remove the ${entry.integration} credentials of this workspace?`) && save(error, () => send('DELETE', `/api/admin/workspace/credentials/${entry.integration}`)),
                }, 'Remove')
              : null,
          ),
    ),
    masked,
    form,
    error,
  );
}

function credentialsCard(workspace, { save }) {
  const { credentials } = workspace;
  const note = credentials.fromEnvironment
    ? 'The default workspace uses the credentials of the deployment\'s environment.'
    : !credentials.available
      ? 'This server stores no workspace credentials.'
      : 'Keys of this workspace\'s own accounts. The mode (WORKSPACE_CREDENTIALS) says whose are used.';
  return el(
    'section',
    { class: 'card credentials-card', 'aria-labelledby': 'credentials-heading' },
    el('h2', { id: 'credentials-heading' }, 'Credentials'),
    el('p', { class: 'muted' }, note),
    credentials.integrations.map((entry) => credentialRow(entry, { save, fromEnvironment: credentials.fromEnvironment || !credentials.available })),
  );
}

/** The Workspace view: the caller's workspace (an owner's: the one picked in the header). */
export async function loadWorkspace({ onUnauthorized }) {
  const target = $('#workspace');
  await act('#workspace-error', async () => {
    const workspace = await get('/api/admin/workspace');
    render(workspace);
  }, { onUnauthorized });

  function render(workspace) {
    $('#workspace-title').textContent = `${workspace.name} · ${workspace.slug}${workspace.status === 'suspended' ? ' · suspended' : ''}`;
    /** A write of this view: its answer is the workspace as it now is, drawn again. */
    const save = (errorNode, task, onFailure, describe) =>
      act(errorNode, async () => {
        try {
          render(await task());
          $('#workspace-saved').textContent = 'Saved.';
        } catch (error) {
          onFailure?.(error);
          throw error;
        }
      }, { onUnauthorized, ...(describe && { describe }) });
    clear(target);
    target.append(
      el('p', { id: 'workspace-saved', class: 'muted', role: 'status' }),
      el('div', { class: 'workspace-grid' }, el('div', { class: 'workspace-side' }, widgetCard(workspace), originsCard(workspace, { save }), credentialsCard(workspace, { save })), settingsCard(workspace, { save })),
    );
  }
}
