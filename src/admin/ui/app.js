// The admin console: hash routes, filters, the tool-call table with live updates,
// the detail drawer, the handoff inbox, transcripts an operator can answer from, Stripe's
// payment events, charts, health and workspaces. Data arrives redacted from the API.
import { actingWorkspace, ApiError, download, exportUrl, get, login, logout, post } from './api.js';
import { destroyCharts, timeChart } from './charts.js';
import { loadSpend } from './spend.js';
import { bindWorkspaceForms, loadWorkspace, loadWorkspaces, setupWorkspaces } from './workspaces.js';
import {
  clear,
  conversationRow,
  el,
  formatDuration,
  handoffState,
  healthView,
  inboxRow,
  notesList,
  paymentRow,
  personHead,
  statsSummary,
  tickConfirmationWaits,
  toolCallDetail,
  toolCallRow,
  transcript,
} from './views.js';

const $ = (selector) => document.querySelector(selector);
const state = {
  toolCallQuery: {},
  toolCallCursor: null,
  /** The tool-call list has been read once (before that, an empty table is not "no calls"). */
  toolCallsRead: false,
  conversationQuery: {},
  conversationCursor: null,
  /** The person view: the conversation it was opened from, and its next page. */
  personId: null,
  personCursor: null,
  paymentQuery: {},
  paymentCursor: null,
  /** Re-reads in a row while an event on screen is still being handled (capped). */
  paymentRereads: 0,
  paymentRereadTimer: null,
  /** The tool call open in the drawer. */
  drawer: null,
  /** The drawer's latest read (an older one finishing late is dropped). */
  drawerRequest: null,
  socket: null,
  /** GET /api/admin/me: who is logged in and their role. */
  me: null,
  /** The last inbox read and when it arrived (waiting times tick from there). */
  inbox: { items: [], readAt: 0 },
  /** The conversation on screen and its last read. */
  conversationId: null,
  conversation: null,
  /** The list a transcript was opened from (its nav entry stays highlighted). */
  list: null,
};

const RANK = { viewer: 0, operator: 1, admin: 2, owner: 3 };
const isAtLeast = (role) => RANK[state.me?.role] >= RANK[role];
/** How the API names this caller on a handoff it holds. */
const myActor = () => state.me?.email ?? 'admin-token';

/**
 * Runs `task` once at a time: a call while it runs schedules exactly one more run after it,
 * so a burst of live events costs at most two reads and the last one always sees the latest state.
 */
function coalesced(task) {
  let running = null;
  let again = false;
  return function run() {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await task();
      } while (again);
    })().finally(() => {
      running = null;
    });
    return running;
  };
}

/** An API error as a sentence for the person at the console (the code stays in the tooltip). */
function describeError(error) {
  if (error instanceof ApiError) return error.message || error.code;
  return String(error?.message ?? error);
}

function showActionError(target, action, error) {
  if (error instanceof ApiError && error.status === 401) return showLogin();
  const node = $(target);
  node.textContent = `${action}: ${describeError(error)}`;
  node.title = error instanceof ApiError ? `${error.status} ${error.code}` : '';
}

function showError(target, error) {
  $(target).textContent = error instanceof ApiError ? `${error.code}: ${error.message}` : String(error?.message ?? error);
}

async function guarded(task, errorTarget = '#tool-call-error') {
  try {
    $(errorTarget).textContent = '';
    return await task();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return showLogin();
    showError(errorTarget, error);
  }
}

// ---------- session ----------

function showLogin() {
  state.socket?.disconnect();
  state.socket = null;
  $('#console').hidden = true;
  $('#setup').hidden = true;
  $('#login').hidden = false;
  $('#login-email').focus();
  void showLoginOptions();
  void offerFirstRun();
}

/** With no account yet nobody can log in: the first-run setup is shown instead (and linked from the login). */
async function offerFirstRun() {
  const { needed } = await get('/api/admin/setup').catch(() => ({ needed: false }));
  $('#login-first-run').hidden = !needed;
  if (needed && !state.setupDismissed && !$('#login').hidden) showSetup();
}

function showSetup() {
  $('#login').hidden = true;
  $('#setup').hidden = false;
  $('#setup-token').focus();
}

$('#show-setup').addEventListener('click', showSetup);
$('#setup-to-login').addEventListener('click', () => {
  state.setupDismissed = true;
  showLogin();
});

$('#setup-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const error = $('#setup-error');
  error.textContent = '';
  if ($('#setup-password').value !== $('#setup-password-again').value) {
    error.textContent = 'The two passwords differ.';
    $('#setup-password-again').focus();
    return;
  }
  const body = { token: $('#setup-token').value, email: $('#setup-email').value, name: $('#setup-name').value, password: $('#setup-password').value };
  try {
    await post('/api/admin/setup', body);
    $('#setup-password').value = '';
    $('#setup-password-again').value = '';
    await start();
  } catch (failure) {
    if (failure instanceof ApiError && failure.code === 'already_set_up') {
      state.setupDismissed = true;
      showLogin();
      $('#login-error').textContent = 'An admin account exists already: log in, or ask an admin for an account.';
      return;
    }
    error.textContent = describeError(failure);
  }
});

// ---------- sign-in options: password, single sign-on ----------

/** Why the identity provider's sign-in was refused (the callback sends the browser back with `?sso_error=`). */
const SSO_ERRORS = {
  state_mismatch: 'That sign-in was not started in this browser, or it took too long. Sign in again.',
  idp_error: 'The identity provider did not sign you in.',
  code_rejected: 'That sign-in expired or was used already. Sign in again.',
  response_invalid: "The identity provider's answer could not be verified. Sign in again, or ask your administrator.",
  email_missing: 'The identity provider did not share your email address. Ask your administrator.',
  email_unverified: 'Your email address is not verified at the identity provider.',
  domain_not_allowed: 'Accounts of your email domain cannot sign in to this console.',
  account_conflict: 'Another console account already uses your email address. Ask an administrator.',
  provider_unavailable: 'The identity provider cannot be reached right now. Try again in a moment.',
};

/** Shows the ways in the server has on: "Sign in with …" (OIDC), the password form, or both. */
async function showLoginOptions() {
  const options = await get('/api/admin/login-options').catch(() => ({ password: true, sso: null }));
  const { sso } = options;
  $('#sso-login').hidden = !sso;
  $('#sso-help').hidden = !sso;
  if (sso) {
    $('#sso-button').textContent = `Sign in with ${sso.name}`;
    $('#sso-button').href = sso.startUrl;
    $('#sso-help-name').textContent = sso.name;
  }
  $('#sso-or').hidden = !(sso && options.password);
  // Disabled too, so its required fields do not block anything while hidden.
  $('#password-login').hidden = !options.password;
  $('#password-login').disabled = !options.password;
  $('#login').dataset.sso = sso ? 'on' : 'off';
  $('#login').dataset.passwordLogin = options.password ? 'on' : 'off';
  if (!options.password && sso && !$('#login').hidden) $('#sso-button').focus();
  const reason = new URLSearchParams(location.search).get('sso_error');
  if (reason) {
    $('#login-error').textContent = SSO_ERRORS[reason] ?? 'Single sign-on did not work. Try again.';
    history.replaceState(null, '', location.pathname + location.hash);
  }
}

async function start() {
  try {
    const me = await get('/api/admin/me');
    state.me = me;
    $('#whoami').textContent = me.email ?? 'token';
    $('#whoami').title = `${me.name} · ${me.role}`;
    document.body.dataset.role = me.role;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return showLogin();
    // The workspace this tab had picked is gone: api.js dropped it, so this asks for the account's own.
    if (error instanceof ApiError && error.code === 'workspace_not_found' && !actingWorkspace()) return start();
    throw error;
  }
  // Without the list the switcher stays hidden; the Workspaces view reads it again and shows why.
  setupWorkspaces(state.me).catch(() => undefined);
  $('#login').hidden = true;
  $('#setup').hidden = true;
  $('#console').hidden = false;
  connectFeed();
  refreshInbox();
  route();
}

$('#login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('#login-error').textContent = '';
  try {
    await login($('#login-email').value, $('#login-password').value);
    $('#login-password').value = '';
    await start();
  } catch (error) {
    showError('#login-error', error);
  }
});

$('#logout').addEventListener('click', async () => {
  await logout().catch(() => undefined);
  showLogin();
});

// ---------- live feed ----------

function connectFeed() {
  if (state.socket || typeof window.io !== 'function') return;
  const workspace = actingWorkspace();
  const socket = window.io('/admin', { transports: ['websocket'], withCredentials: true, ...(workspace && { auth: { workspace } }) });
  state.socket = socket;
  const status = $('#live-status');
  socket.on('connect', () => {
    status.textContent = 'live';
    status.classList.add('on');
    // Events missed while offline: read the inbox and the open conversation again.
    refreshInbox();
    if (state.conversationId) refreshConversation();
  });
  socket.on('disconnect', () => {
    status.textContent = 'offline';
    status.classList.remove('on');
  });
  socket.on('connect_error', () => {
    status.textContent = 'offline';
    status.classList.remove('on');
  });
  socket.on('tool-call', (item) => {
    livePaymentsRefresh();
    showLiveToolCall(item);
  });
  const onConversationEvent = (event) => {
    if (event?.conversationId && event.conversationId === state.conversationId) refreshConversation();
  };
  // A call changed status (the person confirmed or declined, it expired, a confirmed call ended):
  // its row changes in place, and the drawer and transcript showing it follow.
  socket.on('tool-call.status', (item) => {
    showLiveToolCall(item);
    if (state.drawer?.id === item.id) refreshDrawer();
    onConversationEvent(item);
  });
  socket.on('handoff', (event) => {
    refreshInbox();
    onConversationEvent(event);
  });
  socket.on('message', (event) => {
    if (!$('#view-inbox').hidden) refreshInbox();
    onConversationEvent(event);
    // A confirmation's outcome is sent right after the call's status changes: the drawer shows it as the reply.
    if (event?.role === 'assistant' && event.conversationId === state.drawer?.conversationId) refreshDrawer();
    livePaymentsRefresh();
    // A payment notice follows the change of a checkout link's payment.
    if (event?.author === 'system' && event.conversationId) refreshPaymentsOf(event.conversationId);
  });
  socket.on('turn', onConversationEvent);
  // A Stripe event was handled: the Payments view and the calls of its conversation change.
  socket.on('payment', (event) => {
    livePaymentsRefresh();
    if (event?.conversationId) refreshPaymentsOf(event.conversationId);
    onConversationEvent(event);
  });
}

/** A call's status only moves forward (pending → running → its outcome): an event arriving late never undoes a newer one. */
const statusStage = (status) => ({ pending: 0, running: 1 })[status] ?? 2;

/**
 * A call from the live feed: a row on screen is replaced in place (its status changed); a call not
 * on screen is added where it belongs, newest first, when it matches the filters.
 */
function showLiveToolCall(item) {
  const body = $('#tool-call-table tbody');
  const existing = body.querySelector(`tr[data-id="${CSS.escape(item.id)}"]`);
  if (existing) {
    if (statusStage(item.status) < statusStage(existing.dataset.status)) return;
    const row = toolCallRow(item, openToolCall);
    row.classList.add('fresh');
    // The keyboard stays on the row it was on.
    const focused = existing.contains(document.activeElement);
    existing.replaceWith(row);
    if (focused) row.focus();
    return;
  }
  if (!matchesLiveFilters(item)) return;
  const row = toolCallRow(item, openToolCall);
  row.classList.add('fresh');
  const rows = [...body.querySelectorAll('tr[data-id]')];
  const older = rows.find((other) => other.dataset.created < item.createdAt);
  if (older) older.before(row);
  // Older than every row on screen: its place is on a page not read yet, unless this is the last one.
  else if (rows.length === 0 || !state.toolCallCursor) body.append(row);
}

/** New rows appear live when they match the filters that can be checked in the browser. */
function matchesLiveFilters(item) {
  const query = state.toolCallQuery;
  if (query.user || query.q || query.to) return false;
  if (query.from && new Date(item.createdAt) < new Date(query.from)) return false;
  if (query.tool && item.toolName !== query.tool) return false;
  if (query.status && !query.status.split(',').includes(item.status)) return false;
  if (query.channel && item.channel !== query.channel) return false;
  if (query.provider && item.provider !== query.provider) return false;
  if (query.conversation && item.conversationId !== query.conversation) return false;
  return true;
}

// ---------- filters ----------

function formQuery(form) {
  const query = {};
  for (const [key, value] of new FormData(form)) {
    const text = String(value).trim();
    if (!text) continue;
    // datetime-local has no zone: read it as the browser's local time.
    query[key] = form.elements[key]?.type === 'datetime-local' ? new Date(text).toISOString() : text;
  }
  return query;
}

function updateExportLinks() {
  $('#export-csv').href = exportUrl('csv', state.toolCallQuery);
  $('#export-json').href = exportUrl('json', state.toolCallQuery);
}
// A link cannot send the workspace an owner picked: then the file is fetched with it.
for (const link of [$('#export-csv'), $('#export-json')]) {
  link.addEventListener('click', (event) => {
    if (!actingWorkspace()) return;
    event.preventDefault();
    guarded(() => download(link.getAttribute('href')));
  });
}

// ---------- tool calls ----------

async function loadToolCalls(append = false) {
  await guarded(async () => {
    const page = await get('/api/admin/tool-calls', { ...state.toolCallQuery, cursor: append ? state.toolCallCursor : undefined });
    const body = $('#tool-call-table tbody');
    if (!append) clear(body);
    for (const item of page.items) body.append(toolCallRow(item, openToolCall));
    state.toolCallCursor = page.nextCursor;
    $('#tool-call-more').hidden = !page.nextCursor;
    state.toolCallsRead = true;
    syncToolCallEmpty();
  });
}

/**
 * An empty list says why and what to do; the table comes back with its first row, from a read
 * or from the live feed (the observer sees rows however they arrive).
 */
function syncToolCallEmpty() {
  if (!state.toolCallsRead) return;
  const empty = $('#tool-call-table tbody tr[data-id]') === null;
  const filtered = Object.keys(state.toolCallQuery).length > 0;
  $('#tool-call-empty').textContent = filtered
    ? 'No tool calls match these filters. Widen the time range or press Clear to see every call.'
    : 'No tool calls yet. When the agent uses a tool (a booking, a checkout link, a lead), the call appears here as it happens.';
  $('#tool-call-empty').hidden = !empty;
  $('#tool-call-table').closest('.table-wrap').hidden = empty;
}
new MutationObserver(syncToolCallEmpty).observe($('#tool-call-table tbody'), { childList: true });

$('#tool-call-filters').addEventListener('submit', (event) => {
  event.preventDefault();
  state.toolCallQuery = formQuery(event.target);
  updateExportLinks();
  loadToolCalls();
});
$('#tool-call-filters').addEventListener('reset', () => {
  state.toolCallQuery = {};
  updateExportLinks();
  setTimeout(() => loadToolCalls());
});
$('#tool-call-more').addEventListener('click', () => loadToolCalls(true));

async function openToolCall(id, { focus = true } = {}) {
  // The last call asked for wins: an earlier read finishing late (a live refresh) does not replace it.
  const request = (state.drawerRequest = Symbol(id));
  await guarded(async () => {
    const detail = await get(`/api/admin/tool-calls/${encodeURIComponent(id)}`);
    if (state.drawerRequest !== request) return;
    const body = $('#drawer-body');
    // A live refresh replaces what the keyboard was on: it stays in the drawer.
    const hadFocus = body.contains(document.activeElement);
    clear(body);
    body.append(toolCallDetail(detail, closeDrawer));
    state.drawer = { id, conversationId: detail.conversation.id };
    $('#drawer').hidden = false;
    if (focus || hadFocus) $('#drawer-close').focus();
  });
}

function closeDrawer() {
  state.drawer = null;
  state.drawerRequest = null;
  $('#drawer').hidden = true;
}

/** Reads the open drawer's call again (a live change), keeping the focus where it is. */
const refreshDrawer = coalesced(async () => {
  if (state.drawer && !$('#drawer').hidden) await openToolCall(state.drawer.id, { focus: false });
});

/** A pending confirmation's wait keeps counting while the drawer shows it. */
setInterval(() => {
  if (!$('#drawer').hidden) tickConfirmationWaits($('#drawer-body'));
}, 5000);

/**
 * A checkout link of this conversation may have a new payment state: its rows in the tool-call
 * table and the drawer, when open on one of them, show it (the transcript refreshes on its own).
 */
async function refreshPaymentsOf(conversationId) {
  const body = $('#tool-call-table tbody');
  const rows = [...body.querySelectorAll(`tr[data-conversation="${CSS.escape(conversationId)}"]`)].filter((row) => row.querySelector('.pay'));
  if (rows.length > 0 && !$('#view-tool-calls').hidden) {
    const page = await get('/api/admin/tool-calls', { conversation: conversationId, tool: 'create_checkout_link', limit: 200 }).catch(() => null);
    for (const item of page?.items ?? []) body.querySelector(`tr[data-id="${CSS.escape(item.id)}"]`)?.replaceWith(toolCallRow(item, openToolCall));
  }
  if (state.drawer?.conversationId === conversationId && !$('#drawer').hidden) openToolCall(state.drawer.id, { focus: false });
}
$('#drawer-close').addEventListener('click', closeDrawer);
document.addEventListener('keydown', (event) => event.key === 'Escape' && closeDrawer());

// ---------- conversations ----------

async function loadConversations(append = false) {
  await guarded(async () => {
    const page = await get('/api/admin/conversations', { ...state.conversationQuery, cursor: append ? state.conversationCursor : undefined });
    const body = $('#conversation-table tbody');
    if (!append) clear(body);
    for (const item of page.items) body.append(conversationRow(item, (id) => (location.hash = `#/conversations/${id}`)));
    state.conversationCursor = page.nextCursor;
    $('#conversation-more').hidden = !page.nextCursor;
    const empty = body.rows.length === 0;
    const filtered = Object.keys(state.conversationQuery).length > 0;
    $('#conversation-empty').textContent = filtered
      ? 'No conversations match these filters. Widen the time range or clear a filter.'
      : 'No conversations yet. They appear here when someone writes through the web widget, Slack, SMS or WhatsApp.';
    $('#conversation-empty').hidden = !empty;
    $('#conversation-table').closest('.table-wrap').hidden = empty;
  });
}

$('#conversation-filters').addEventListener('submit', (event) => {
  event.preventDefault();
  state.conversationQuery = formQuery(event.target);
  loadConversations();
});
$('#conversation-more').addEventListener('click', () => loadConversations(true));

// ---------- one person, across channels ----------

async function loadPerson(append = false) {
  const id = state.personId;
  await guarded(async () => {
    const page = await get(`/api/admin/conversations/${encodeURIComponent(id)}/person`, { cursor: append ? state.personCursor : undefined });
    if (state.personId !== id) return;
    if (!append) {
      clear($('#person-head'));
      $('#person-head').append(personHead(page.person));
    }
    const body = $('#person-table tbody');
    if (!append) clear(body);
    for (const item of page.items) body.append(conversationRow(item, (conversationId) => (location.hash = `#/conversations/${conversationId}`)));
    state.personCursor = page.nextCursor;
    $('#person-more').hidden = !page.nextCursor;
  }, '#person-error');
}

function openPerson(id) {
  state.personId = id;
  state.personCursor = null;
  clear($('#person-head'));
  clear($('#person-table tbody'));
  $('#person-more').hidden = true;
  loadPerson();
}
$('#person-more').addEventListener('click', () => loadPerson(true));

// ---------- payments ----------

/** The payment events: a fresh first page, the next page (`append`), or a re-read of as many rows as are on screen (`keep`). */
async function loadPayments({ append = false, keep = 0 } = {}) {
  clearTimeout(state.paymentRereadTimer);
  await guarded(async () => {
    const query = { ...state.paymentQuery };
    if (append) query.cursor = state.paymentCursor;
    else if (keep > 50) query.limit = Math.min(200, keep);
    const page = await get('/api/admin/payments', query);
    const body = $('#payment-table tbody');
    if (!append) clear(body);
    body.append(...page.items.map(paymentRow));
    state.paymentCursor = page.nextCursor;
    $('#payment-more').hidden = !page.nextCursor;
    const empty = body.rows.length === 0;
    const filtered = Object.keys(state.paymentQuery).length > 0;
    $('#payment-empty').textContent = filtered
      ? 'No payment events match these filters.'
      : "No payment events yet. Stripe's webhooks appear here as they arrive.";
    $('#payment-empty').hidden = !empty;
    $('#payment-table').closest('.table-wrap').hidden = empty;
    // The notice that announces a payment is sent before its event is marked handled: read again shortly.
    // 0.3 s, then twice as long each time, five times at most.
    if (!append && page.items.some((item) => item.status === 'received') && state.paymentRereads < 5) {
      state.paymentRereadTimer = setTimeout(() => {
        if ($('#view-payments').hidden) return;
        state.paymentRereads += 1;
        refreshPayments();
      }, 300 * 2 ** state.paymentRereads);
    }
  }, '#payment-error');
}

const refreshPayments = coalesced(() => loadPayments({ keep: $('#payment-table tbody').rows.length }));

function livePaymentsRefresh() {
  if ($('#view-payments').hidden) return;
  state.paymentRereads = 0;
  refreshPayments();
}

$('#payment-filters').addEventListener('submit', (event) => {
  event.preventDefault();
  state.paymentQuery = formQuery(event.target);
  state.paymentRereads = 0;
  loadPayments();
});
$('#payment-filters').addEventListener('reset', () => {
  state.paymentQuery = {};
  setTimeout(() => loadPayments());
});
$('#payment-more').addEventListener('click', () => loadPayments({ append: true }));

// ---------- inbox ----------

const refreshInbox = coalesced(async () => {
  try {
    $('#inbox-error').textContent = '';
    const { items } = await get('/api/admin/handoffs');
    state.inbox = { items, readAt: Date.now() };
    renderInbox();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return showLogin();
    $('#inbox-error').textContent = `Inbox not updated: ${describeError(error)}`;
  }
});

const waitedMs = (item) => item.waitingMs + (item.status === 'waiting' ? Date.now() - state.inbox.readAt : 0);

function renderInbox() {
  const { items } = state.inbox;
  const waiting = items.filter((item) => item.status === 'waiting').length;
  const badge = $('#inbox-count');
  badge.textContent = String(waiting);
  badge.hidden = waiting === 0;
  badge.title = `${waiting} waiting for a person`;
  document.title = waiting > 0 ? `(${waiting}) Switchboard admin` : 'Switchboard admin';
  const body = $('#inbox-table tbody');
  // A live refresh must not take the keyboard focus off the row the operator is on.
  const focused = body.contains(document.activeElement) ? document.activeElement.dataset.id : undefined;
  clear(body);
  for (const item of items) body.append(inboxRow(item, waitedMs(item), (id) => (location.hash = `#/conversations/${id}`)));
  if (focused) body.querySelector(`tr[data-id="${CSS.escape(focused)}"]`)?.focus();
  $('#inbox-empty').hidden = items.length > 0;
  $('#inbox-table').closest('.table-wrap').hidden = items.length === 0;
}

/** Waiting times keep counting between reads. */
setInterval(() => {
  if ($('#view-inbox').hidden) return;
  const rows = $('#inbox-table tbody').rows;
  state.inbox.items.forEach((item, index) => {
    const cell = rows[index]?.querySelector('.waited.ticking');
    if (cell) cell.textContent = formatDuration(waitedMs(item));
  });
}, 5000);

// ---------- one conversation, answered by an operator ----------

async function openConversation(id) {
  state.conversationId = id;
  state.conversation = null;
  clear($('#transcript'));
  clear($('#handoff-state'));
  clear($('#notes-list'));
  for (const target of ['#transcript-error', '#handoff-error', '#reply-error', '#note-error']) $(target).textContent = '';
  $('#reply-text').value = '';
  $('#note-text').value = '';
  await refreshConversation();
  // An operator opening a conversation with a person wants the latest messages and the reply box.
  if (state.conversation?.mode === 'human') scrollToEnd();
}

const refreshConversation = coalesced(async () => {
  const id = state.conversationId;
  if (!id) return;
  try {
    const detail = await get(`/api/admin/conversations/${encodeURIComponent(id)}`);
    if (state.conversationId !== id) return;
    $('#transcript-error').textContent = '';
    const atEnd = state.conversation !== null && nearEnd();
    state.conversation = detail;
    renderConversation(detail);
    if (atEnd) scrollToEnd();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return showLogin();
    $('#transcript-error').textContent = `Conversation not loaded: ${describeError(error)}`;
  }
});

const nearEnd = () => window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 160;
const scrollToEnd = () => window.scrollTo({ top: document.documentElement.scrollHeight });

function renderConversation(detail) {
  const target = $('#transcript');
  clear(target);
  target.append(transcript(detail, openToolCall));
  clear($('#handoff-state'));
  $('#handoff-state').append(handoffState(detail));
  clear($('#notes-list'));
  $('#notes-list').append(...notesList(detail.notes ?? []));
  renderControls(detail);
}

/**
 * What this person may do here. Viewers get no controls; an operator takes over a conversation
 * nobody holds, replies and releases while holding it; an admin may also reply to and release
 * one another operator holds (the API enforces all of it; this only avoids offering a 409).
 */
function renderControls(detail) {
  const operator = isAtLeast('operator');
  const admin = isAtLeast('admin');
  const open = detail.mode === 'human' ? detail.handoff : null;
  const mine = open?.status === 'active' && open.operator === myActor();
  const heldByOther = open?.status === 'active' && !mine;
  const holder = open?.operatorName ?? 'another operator';

  $('#handoff-actions').hidden = !operator;
  $('#note-form').hidden = !operator;
  $('#reply-form').hidden = !operator;

  const takeover = $('#takeover');
  takeover.hidden = mine;
  takeover.disabled = heldByOther;
  takeover.textContent = open ? 'Take over' : 'Take over from the agent';
  const release = $('#release');
  release.hidden = !open;
  release.disabled = heldByOther && !admin;

  let hint = '';
  if (!operator) hint = 'You can read this conversation; your role (viewer) cannot act on it.';
  else if (mine) hint = 'You hold this conversation: the agent stays silent until you release it.';
  else if (heldByOther) hint = `${holder} holds this conversation.`;
  else if (open?.status === 'waiting') hint = 'The person is waiting for someone from the team.';
  else hint = 'The agent is answering. Taking over stops it and tells the person.';
  $('#handoff-hint').textContent = hint;

  const canReply = operator && open !== null && (mine || admin);
  $('#reply-form').classList.toggle('ready', canReply);
  $('#reply-text').disabled = !canReply;
  $('#reply-send').disabled = !canReply;
  $('#reply-text').placeholder = canReply ? 'Write to the person…' : '';
  $('#reply-hint').textContent = canReply
    ? 'Enter sends · Shift+Enter adds a line'
    : !open
      ? 'Take over to reply: the agent is answering.'
      : open.status === 'waiting'
        ? 'Take over to reply.'
        : `${holder} holds this conversation.`;
}

async function conversationAction(button, errorTarget, action, run) {
  const id = state.conversationId;
  $(errorTarget).textContent = '';
  button.disabled = true;
  try {
    await run(id);
    await refreshConversation();
    refreshInbox();
    return true;
  } catch (error) {
    showActionError(errorTarget, action, error);
    // The state may have moved on (someone else took it): show where it stands now.
    await refreshConversation();
    return false;
  } finally {
    if (state.conversation) renderControls(state.conversation);
  }
}

const conversationPath = (id, action) => `/api/admin/conversations/${encodeURIComponent(id)}/${action}`;

$('#takeover').addEventListener('click', async (event) => {
  const done = await conversationAction(event.currentTarget, '#handoff-error', 'Could not take over', (id) => post(conversationPath(id, 'takeover')));
  if (done) $('#reply-text').focus();
});

$('#release').addEventListener('click', (event) =>
  conversationAction(event.currentTarget, '#handoff-error', 'Could not release', (id) => post(conversationPath(id, 'release'))),
);

let sending = false;
/** The id of the draft being sent: sending it again after a lost answer (a network error) does not reach the person twice. */
let draftId = null;
$('#reply-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const box = $('#reply-text');
  if (sending || box.disabled || box.value.trim() === '') return;
  sending = true;
  // Read-only rather than disabled: the box keeps focus for the next line.
  box.readOnly = true;
  const text = box.value;
  draftId ??= crypto.randomUUID();
  const clientMessageId = draftId;
  const sent = await conversationAction($('#reply-send'), '#reply-error', 'Not sent', (id) => post(conversationPath(id, 'messages'), { text, clientMessageId }));
  box.readOnly = false;
  sending = false;
  if (sent) {
    box.value = '';
    draftId = null;
    scrollToEnd();
  }
  box.focus();
});

// An error belongs to the text that caused it: editing clears it.
$('#reply-text').addEventListener('input', () => {
  $('#reply-error').textContent = '';
  // Another text is another message.
  draftId = null;
});
$('#note-text').addEventListener('input', () => ($('#note-error').textContent = ''));

$('#reply-text').addEventListener('keydown', (event) => {
  if (event.key !== 'Enter' || event.shiftKey || event.isComposing) return;
  event.preventDefault();
  $('#reply-form').requestSubmit();
});

$('#note-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const box = $('#note-text');
  if (box.value.trim() === '') return;
  const text = box.value;
  const button = event.currentTarget.querySelector('button[type=submit]');
  if (await conversationAction(button, '#note-error', 'Note not added', (id) => post(conversationPath(id, 'notes'), { text }))) box.value = '';
  button.disabled = false;
});

$('#note-text').addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    $('#note-form').requestSubmit();
  }
});

// ---------- charts and health ----------

async function loadStats() {
  await guarded(async () => {
    const hours = Number(new FormData($('#stats-filters')).get('window') ?? 24);
    const to = new Date();
    const from = new Date(to.getTime() - hours * 3600_000);
    const stats = await get('/api/admin/stats', { from: from.toISOString(), to: to.toISOString() });
    const target = $('#stats');
    destroyCharts();
    clear(target);
    const bucketSeconds = stats.window.bucketSeconds;
    $('#stats-bucket').textContent = `one point per ${stats.window.bucket}`;
    // Charts first: they answer "how is it going" at a glance; the figures and tables follow.
    const charts = el('div', { class: 'charts' });
    target.append(charts, statsSummary(stats));
    charts.append(
      timeChart('Messages', stats.series, 'messages', { bucketSeconds, empty: 'No messages in this window.' }),
      timeChart('Tool calls', stats.series, 'toolCalls', { bucketSeconds, color: '#2f9e6b', empty: 'No tool calls in this window.' }),
      timeChart('Tool errors', stats.series, 'toolErrors', { bucketSeconds, color: '#c9452f', empty: 'No tool errors in this window.' }),
      timeChart('Turn latency p95', stats.series, 'p95LatencyMs', { bucketSeconds, color: '#8a5cd0', kind: 'line', empty: 'No answered turns in this window.' }),
    );
  });
}
$('#stats-filters').addEventListener('submit', (event) => {
  event.preventDefault();
  loadStats();
});
$('#stats-filters select[name=window]').addEventListener('change', () => loadStats());

async function loadHealth() {
  await guarded(async () => {
    const health = await get('/api/admin/health');
    const target = $('#health');
    clear(target);
    target.append(healthView(health));
  });
}

// ---------- spend ----------

const refreshSpend = () =>
  loadSpend({
    onError: (error) => (error instanceof ApiError && error.status === 401 ? showLogin() : showError('#spend-error', error)),
  });
$('#spend-filters').addEventListener('submit', (event) => {
  event.preventDefault();
  refreshSpend();
});

// ---------- workspaces ----------

bindWorkspaceForms({ onUnauthorized: () => showLogin() });

// ---------- routing ----------

function show(view) {
  if (view !== 'transcript') state.conversationId = null;
  // A transcript belongs to the list it was opened from.
  if (view === 'inbox' || view === 'conversations' || view === 'payments') state.list = view;
  $('#crumb-payments').hidden = state.list !== 'payments';
  const active = view === 'transcript' ? (state.list ?? 'conversations') : view === 'person' ? 'conversations' : view;
  for (const section of document.querySelectorAll('.view')) section.hidden = section.id !== `view-${view}`;
  for (const link of document.querySelectorAll('nav a')) {
    link.classList.toggle('active', link.dataset.view === active);
    if (link.dataset.view === active) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

function route() {
  // Operators work from the inbox; everyone else starts at the tool calls.
  const [, view = state.me?.role === 'operator' ? 'inbox' : 'tool-calls', id] = location.hash.split('/');
  closeDrawer();
  if (view === 'inbox') {
    show('inbox');
    refreshInbox();
  } else if (view === 'conversations' && id) {
    show('transcript');
    openConversation(id);
  } else if (view === 'conversations') {
    show('conversations');
    loadConversations();
  } else if (view === 'people' && id) {
    show('person');
    openPerson(id);
  } else if (view === 'payments') {
    show('payments');
    state.paymentRereads = 0;
    loadPayments();
  } else if (view === 'stats') {
    show('stats');
    loadStats();
  } else if (view === 'spend') {
    show('spend');
    refreshSpend();
  } else if (view === 'health') {
    show('health');
    loadHealth();
  } else if (view === 'workspace') {
    show('workspace');
    loadWorkspace({ onUnauthorized: () => showLogin() });
  } else if (view === 'workspaces') {
    show('workspaces');
    loadWorkspaces({ onUnauthorized: () => showLogin() });
  } else {
    show('tool-calls');
    updateExportLinks();
    loadToolCalls();
  }
}

window.addEventListener('hashchange', () => !$('#console').hidden && route());
window.addEventListener('load', () => start().catch((error) => showError('#login-error', error)));
