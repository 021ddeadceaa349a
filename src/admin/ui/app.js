// The admin console: hash routes, filters, the tool-call table with live updates,
// the detail drawer, transcripts, charts and health. Data arrives redacted from the API.
import { ApiError, exportUrl, get, login, logout } from './api.js';
import { barChart } from './charts.js';
import { clear, conversationRow, el, healthView, statsSummary, toolCallDetail, toolCallRow, transcript } from './views.js';

const $ = (selector) => document.querySelector(selector);
const state = { toolCallQuery: {}, toolCallCursor: null, conversationQuery: {}, conversationCursor: null, socket: null };

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
  $('#login').hidden = false;
  $('#login-email').focus();
}

async function start() {
  try {
    const me = await get('/api/admin/me');
    $('#whoami').textContent = me.email ?? 'token';
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return showLogin();
    throw error;
  }
  $('#login').hidden = true;
  $('#console').hidden = false;
  connectFeed();
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
  const socket = window.io('/admin', { transports: ['websocket'], withCredentials: true });
  state.socket = socket;
  const status = $('#live-status');
  socket.on('connect', () => {
    status.textContent = 'live';
    status.classList.add('on');
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
    if (!matchesLiveFilters(item)) return;
    const body = $('#tool-call-table tbody');
    if (body.querySelector(`tr[data-id="${CSS.escape(item.id)}"]`)) return;
    const row = toolCallRow(item, openToolCall);
    row.classList.add('fresh');
    body.prepend(row);
  });
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

// ---------- tool calls ----------

async function loadToolCalls(append = false) {
  await guarded(async () => {
    const page = await get('/api/admin/tool-calls', { ...state.toolCallQuery, cursor: append ? state.toolCallCursor : undefined });
    const body = $('#tool-call-table tbody');
    if (!append) clear(body);
    for (const item of page.items) body.append(toolCallRow(item, openToolCall));
    if (!append && page.items.length === 0) body.append(el('tr', { class: 'empty' }, el('td', { colspan: 8, class: 'muted' }, 'no tool calls match')));
    state.toolCallCursor = page.nextCursor;
    $('#tool-call-more').hidden = !page.nextCursor;
  });
}

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

async function openToolCall(id) {
  await guarded(async () => {
    const detail = await get(`/api/admin/tool-calls/${encodeURIComponent(id)}`);
    const body = $('#drawer-body');
    clear(body);
    body.append(toolCallDetail(detail, closeDrawer));
    $('#drawer').hidden = false;
    $('#drawer-close').focus();
  });
}

function closeDrawer() {
  $('#drawer').hidden = true;
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
  });
}

$('#conversation-filters').addEventListener('submit', (event) => {
  event.preventDefault();
  state.conversationQuery = formQuery(event.target);
  loadConversations();
});
$('#conversation-more').addEventListener('click', () => loadConversations(true));

async function openConversation(id) {
  await guarded(async () => {
    const detail = await get(`/api/admin/conversations/${encodeURIComponent(id)}`);
    const target = $('#transcript');
    clear(target);
    target.append(transcript(detail, openToolCall));
  });
}

// ---------- charts and health ----------

async function loadStats() {
  await guarded(async () => {
    const hours = Number(new FormData($('#stats-filters')).get('window') ?? 24);
    const to = new Date();
    const from = new Date(to.getTime() - hours * 3600_000);
    const stats = await get('/api/admin/stats', { from: from.toISOString(), to: to.toISOString() });
    const target = $('#stats');
    clear(target);
    target.append(
      statsSummary(stats),
      el(
        'div',
        { class: 'charts' },
        barChart('Messages', stats.series, 'messages'),
        barChart('Tool calls', stats.series, 'toolCalls', { color: '#2f9e6b' }),
        barChart('Tool errors', stats.series, 'toolErrors', { color: '#c9452f' }),
        barChart('Turn latency p95', stats.series, 'p95LatencyMs', { color: '#8a5cd0', unit: ' ms' }),
      ),
    );
  });
}
$('#stats-filters').addEventListener('submit', (event) => {
  event.preventDefault();
  loadStats();
});

async function loadHealth() {
  await guarded(async () => {
    const health = await get('/api/admin/health');
    const target = $('#health');
    clear(target);
    target.append(healthView(health));
  });
}

// ---------- routing ----------

function show(view) {
  for (const section of document.querySelectorAll('.view')) section.hidden = section.id !== `view-${view}`;
  for (const link of document.querySelectorAll('nav a')) link.classList.toggle('active', link.dataset.view === view || (view === 'transcript' && link.dataset.view === 'conversations'));
}

function route() {
  const [, view = 'tool-calls', id] = location.hash.split('/');
  closeDrawer();
  if (view === 'conversations' && id) {
    show('transcript');
    openConversation(id);
  } else if (view === 'conversations') {
    show('conversations');
    loadConversations();
  } else if (view === 'stats') {
    show('stats');
    loadStats();
  } else if (view === 'health') {
    show('health');
    loadHealth();
  } else {
    show('tool-calls');
    updateExportLinks();
    loadToolCalls();
  }
}

window.addEventListener('hashchange', () => !$('#console').hidden && route());
window.addEventListener('load', () => start().catch((error) => showError('#login-error', error)));
