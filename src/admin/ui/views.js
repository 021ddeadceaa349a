// DOM building for the admin console. Every piece of data (model text, user text,
// tool arguments, errors) goes in through textContent: never innerHTML.

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const clear = (node) => node.replaceChildren();

export const formatTime = (iso) => (iso ? new Date(iso).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' }) : '—');

export const json = (value) => (value === undefined ? '' : JSON.stringify(value, null, 2));

const oneLine = (value, max = 80) => {
  const text = value === null || value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
};

export const statusBadge = (status) => el('span', { class: `badge status-${String(status).replace(/[^a-z-]/g, '')}` }, status);

// ---------- payments ----------

/** Digits after the decimal point in Stripe's minor units, where it is not 2 (docs.stripe.com/currencies). */
const ZERO_DECIMAL = new Set(['bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'ugx', 'vnd', 'vuv', 'xaf', 'xof', 'xpf']);
const THREE_DECIMAL = new Set(['bhd', 'jod', 'kwd', 'omr', 'tnd']);

/** 4999 usd → "49.99 USD", 5000 jpy → "5000 JPY", 1500 kwd → "1.500 KWD": exact, from the integer's digits. */
export function formatMoney(minor, currency) {
  if (minor === null || minor === undefined || !currency) return null;
  const code = String(currency).toLowerCase();
  const exponent = ZERO_DECIMAL.has(code) ? 0 : THREE_DECIMAL.has(code) ? 3 : 2;
  const digits = String(Math.abs(minor)).padStart(exponent + 1, '0');
  const major = exponent === 0 ? digits : `${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
  return `${minor < 0 ? '-' : ''}${major} ${code.toUpperCase()}`;
}

const PAYMENT_HINTS = {
  open: 'link created; Stripe has not reported a payment yet',
  processing: 'paid with a delayed method; waiting for the result',
  paid: 'paid',
  failed: 'the payment failed',
  expired: 'the link expired unpaid',
};

/** A checkout link's payment: "paid · 49.99 USD", coloured by status, when it happened in the tooltip. */
export function paymentChip(payment) {
  const amount = formatMoney(payment.amount, payment.currency);
  const hint = PAYMENT_HINTS[payment.status] ?? payment.status;
  return el(
    'span',
    { class: `badge pay pay-${String(payment.status).replace(/[^a-z]/g, '')}`, title: payment.at ? `${hint} · ${formatTime(payment.at)}` : hint },
    amount ? `${payment.status} · ${amount}` : payment.status,
  );
}

const OUTCOME_TONES = {
  paid: 'paid',
  invoice_paid: 'paid',
  subscription_created: 'paid',
  processing: 'processing',
  unknown_session: 'processing',
  failed: 'failed',
  invoice_failed: 'failed',
  expired: 'expired',
  stale: 'expired',
  ignored: 'expired',
  subscription_deleted: 'expired',
};

/** What handling an event did; an event not handled yet says so. */
function outcomeBadge(item) {
  if (item.status === 'received') return el('span', { class: 'badge pay pay-open', title: 'stored; being handled' }, 'handling…');
  if (item.status === 'failed') return el('span', { class: 'badge pay pay-failed', title: item.error ?? 'handling failed' }, 'not handled');
  const outcome = item.outcome ?? item.status;
  return el('span', { class: `badge pay pay-${OUTCOME_TONES[outcome] ?? 'open'}`, title: `${item.status}${item.processedAt ? ` ${formatTime(item.processedAt)}` : ''}` }, outcome);
}

export const shortId = (id) => (id.length > 13 ? `${id.slice(0, 8)}…` : id);

/** One Stripe event of the Payments view; the conversation it is about opens from its link. */
export function paymentRow(item) {
  return el(
    'tr',
    { dataset: { id: item.id, status: item.status } },
    el('td', { class: 'nowrap', title: `sent by Stripe ${formatTime(item.createdAt)}` }, formatTime(item.receivedAt)),
    el('td', { class: 'event-type', title: item.id }, item.type, item.livemode ? null : [' ', el('span', { class: 'badge test-mode', title: 'a test-mode event' }, 'test')]),
    el('td', {}, outcomeBadge(item)),
    el('td', {}, item.paymentStatus ?? el('span', { class: 'muted' }, '—')),
    el('td', { class: 'num nowrap' }, formatMoney(item.amount, item.currency) ?? '—'),
    el('td', {}, item.channel ?? el('span', { class: 'muted' }, '—')),
    el(
      'td',
      { class: 'nowrap' },
      item.conversationId ? el('a', { href: `#/conversations/${item.conversationId}`, class: 'conversation-link', title: item.conversationId }, shortId(item.conversationId)) : el('span', { class: 'muted' }, '—'),
    ),
    el('td', {}, item.notified ? 'yes' : el('span', { class: 'muted' }, 'no')),
    el('td', { class: 'error-text' }, item.error ?? ''),
  );
}

// ---------- confirmations (calls held for the person) ----------

const CONFIRMATION_CHIPS = {
  pending: () => 'awaiting the person',
  confirmed: (wait) => `confirmed · ${wait}`,
  declined: (wait) => `by the person · ${wait}`,
  expired: (wait) => `no answer · ${wait}`,
};

const CONFIRMATION_HINTS = {
  pending: 'held until the person confirms or declines',
  confirmed: 'the person confirmed',
  declined: 'the person declined: nothing was done',
  expired: 'the person did not answer in time: nothing was done',
};

/** A held call's confirmation as a chip next to its status: what the person decided and how long it took them. */
export function confirmationChip(confirmation) {
  const state = String(confirmation.state).replace(/[^a-z]/g, '');
  const wait = formatDuration(confirmation.waitMs);
  const when = confirmation.decidedAt ? ` · ${formatTime(confirmation.decidedAt)}, after ${wait}` : ` · waiting for ${wait}`;
  return el('span', { class: `badge confirm confirm-${state}`, title: `${CONFIRMATION_HINTS[state] ?? state}${when}` }, (CONFIRMATION_CHIPS[state] ?? (() => state))(wait));
}

const DECISIONS = { pending: 'waiting for the person', confirmed: 'confirmed', declined: 'declined', expired: 'expired (no answer)' };

/**
 * The confirmation section of the drawer: what the person was asked, their decision, when, and how
 * long they took. A pending one's wait keeps counting (`data-wait-ms` from the read at `data-read-at`).
 */
function confirmationSection(confirmation) {
  const state = String(confirmation.state).replace(/[^a-z]/g, '');
  const pending = state === 'pending';
  const wait = pending
    ? el('span', { class: 'confirm-wait ticking', dataset: { waitMs: String(confirmation.waitMs), readAt: String(Date.now()) } }, `waiting for ${formatDuration(confirmation.waitMs)}`)
    : el('span', { class: 'confirm-wait' }, formatDuration(confirmation.waitMs));
  return el(
    'section',
    { class: `confirmation confirmation-${state}`, 'aria-labelledby': 'confirmation-heading' },
    el('h3', { id: 'confirmation-heading' }, 'Confirmation'),
    el('p', { class: 'confirm-summary message-text' }, confirmation.summary ?? ''),
    el(
      'dl',
      {},
      field('decision', el('span', { class: `badge confirm confirm-${state} confirm-decision` }, DECISIONS[state] ?? state)),
      field('decided', pending ? null : formatTime(confirmation.decidedAt)),
      field('wait', wait),
      pending ? field('expires', formatTime(confirmation.expiresAt)) : null,
    ),
  );
}

/** Keeps the wait of a pending confirmation counting while the drawer shows it. */
export function tickConfirmationWaits(root) {
  for (const node of root.querySelectorAll('.confirm-wait.ticking')) {
    node.textContent = `waiting for ${formatDuration(Number(node.dataset.waitMs) + Date.now() - Number(node.dataset.readAt))}`;
  }
}

/** The reply part of the drawer: for a held call, the outcome the person was sent, then the agent's question as such. */
function replySection(detail) {
  const meta = (reply) =>
    el('p', { class: 'muted' }, `${reply.provider ?? 'no provider'} · ${reply.latencyMs ?? '?'} ms${reply.fallback ? ' · fallback' : ''}${reply.cached ? ' · cached' : ''}`);
  const confirmation = detail.confirmation;
  if (!confirmation) return detail.reply ? [el('h3', {}, 'Reply'), el('p', { class: 'message-text reply-text' }, detail.reply.text), meta(detail.reply)] : null;
  const outcome = detail.reply
    ? [el('p', { class: 'message-text reply-text' }, detail.reply.text), el('p', { class: 'muted' }, `sent ${formatTime(detail.reply.createdAt)}`)]
    : el(
        'p',
        { class: 'muted reply-pending' },
        confirmation.state === 'pending'
          ? 'Nothing sent yet: the call waits for the person to confirm or decline.'
          : confirmation.state === 'confirmed' && detail.status === 'running'
            ? 'Confirmed; the call is running. Its outcome is sent when it ends.'
            : 'No outcome message found for this call.',
      );
  // el() flattens one level: this list must be flat.
  return [
    el('h3', {}, 'Reply: the outcome'),
    outcome,
    ...(confirmation.prompt
      ? [
          el('h3', {}, 'Confirmation prompt'),
          el('p', { class: 'muted' }, "The agent's reply in the turn, asking the person to confirm (not the outcome):"),
          el('p', { class: 'message-text prompt-text' }, confirmation.prompt.text),
          meta(confirmation.prompt),
        ]
      : []),
  ].flat();
}

// ---------- tool calls ----------

export function toolCallRow(item, onOpen) {
  return el(
    'tr',
    {
      dataset: { id: item.id, conversation: item.conversationId, status: item.status, created: item.createdAt },
      tabindex: '0',
      onclick: () => onOpen(item.id),
      onkeydown: (event) => event.key === 'Enter' && onOpen(item.id),
    },
    el('td', { class: 'nowrap' }, formatTime(item.createdAt)),
    el('td', { class: 'tool' }, item.toolName),
    el(
      'td',
      { class: 'nowrap' },
      statusBadge(item.status),
      item.payment ? [' ', paymentChip(item.payment)] : null,
      item.confirmation ? [' ', confirmationChip(item.confirmation)] : null,
    ),
    el('td', { class: 'num' }, item.durationMs ?? '—'),
    el('td', {}, item.provider ?? '—'),
    el('td', {}, item.channel),
    el('td', { class: 'user' }, personLink(item, item.conversationId)),
    el('td', { class: 'args' }, oneLine(item.arguments)),
  );
}

export function conversationRow(item, onOpen) {
  return el(
    'tr',
    { dataset: { id: item.id }, tabindex: '0', onclick: () => onOpen(item.id), onkeydown: (event) => event.key === 'Enter' && onOpen(item.id) },
    el('td', { class: 'nowrap' }, formatTime(item.updatedAt)),
    el('td', {}, item.channel),
    el('td', { class: 'user' }, personLink(item, item.id)),
    el('td', { class: 'num' }, item.messageCount),
    el('td', { class: 'num' }, item.toolCallCount),
    el('td', { class: 'flags' }, conversationFlags(item)),
  );
}

/** "45 s", "12 min", "2 h 5 min", "3 d 4 h": how long someone has waited. */
export function formatDuration(ms) {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

const REASONS = { requested: 'asked the agent', fallback: 'agent could not answer', operator: 'taken over', keyword: 'keyword', undeliverable: 'reply undeliverable (WhatsApp 24 h)', budget: 'budget spent' };
/** USD of model calls: small amounts with enough digits to read. */
const usd = (value) => `$${value.toFixed(value >= 1 ? 2 : value >= 0.01 ? 4 : 6)}`;
export const reasonText = (reason) => REASONS[reason] ?? reason;

/** One inbox row. `waitedMs` is computed by the caller (it keeps ticking while the row waits). */
export function inboxRow(item, waitedMs, onOpen) {
  const open = () => onOpen(item.conversationId);
  return el(
    'tr',
    { dataset: { id: item.conversationId, status: item.status }, tabindex: '0', onclick: open, onkeydown: (event) => event.key === 'Enter' && open() },
    el('td', { class: 'user' }, personLink(item, item.conversationId)),
    el('td', {}, item.channel),
    el('td', {}, statusBadge(item.status)),
    el('td', {}, reasonText(item.reason)),
    el('td', { class: 'summary' }, item.summary ?? el('span', { class: 'muted' }, '—')),
    el('td', { class: `num nowrap waited${item.status === 'waiting' ? ' ticking' : ''}`, title: `asked ${formatTime(item.requestedAt)}` }, formatDuration(waitedMs)),
    el('td', {}, item.operator ?? el('span', { class: 'muted' }, 'nobody yet')),
  );
}

/** Who wrote a message, as the console labels it. */
function authorOf(message) {
  if (message.role === 'user') return { key: 'user', label: 'user' };
  if (message.author === 'operator') return { key: 'operator', label: message.authorName ?? 'operator', suffix: ' (operator)' };
  if (message.author === 'system') return { key: 'system', label: 'notice' };
  return { key: 'agent', label: 'agent' };
}

function messageBubble(message, onOpenToolCall) {
  const author = authorOf(message);
  const held = message.role === 'user' && message.status === 'human';
  return el(
    'article',
    { class: `bubble ${message.role} author-${author.key}${held ? ' held' : ''}`, dataset: { id: message.id, author: author.key } },
    el(
      'header',
      { class: 'muted' },
      el('span', { class: author.key === 'operator' ? 'author-name' : 'author' }, author.label),
      author.suffix ?? '',
      ` · ${formatTime(message.createdAt)}`,
      held ? [' · ', el('span', { class: 'badge status-human' }, 'held for a person')] : author.key === 'user' || author.key === 'agent' ? ` · ${message.status}` : '',
      message.provider ? ` · ${message.provider}` : '',
      message.latencyMs !== null && message.role === 'assistant' && author.key === 'agent' ? ` · ${message.latencyMs} ms` : '',
      message.cached ? ' · cached' : '',
      message.fallback ? ` · fallback (${message.fallbackReason ?? '?'})` : '',
      // A budget kept the message from the model (or stopped the turn): which one (turn/budgets.ts).
      !message.fallback && message.fallbackReason?.startsWith('budget:')
        ? [' · ', el('span', { class: 'badge status-refused budget-reason' }, `budget spent: ${message.fallbackReason.slice('budget:'.length).replace('_', ' ')}`)]
        : '',
      typeof message.costUsd === 'number' ? ` · ${usd(message.costUsd)}` : '',
      message.outcomeOf ? [' · ', el('span', { class: 'badge confirm-outcome', title: 'sent once the person answered a confirmation' }, 'confirmation outcome')] : '',
    ),
    el('p', { class: 'message-text' }, message.text),
    message.toolCalls.map((call) =>
      el(
        'div',
        { class: 'inline-call', tabindex: '0', onclick: () => onOpenToolCall(call.id), dataset: { id: call.id } },
        el('span', { class: 'tool' }, call.toolName),
        ' ',
        statusBadge(call.status),
        call.payment ? [' ', paymentChip(call.payment)] : null,
        call.confirmation ? [' ', confirmationChip(call.confirmation)] : null,
        // A declined or expired call never ran: no duration to show.
        call.durationMs === null && call.confirmation ? ' ' : ` ${call.durationMs ?? '?'} ms `,
        el('code', {}, oneLine(call.arguments, 120)),
        call.error ? el('div', { class: 'error-text' }, call.error) : null,
      ),
    ),
  );
}

const field = (label, value) => [el('dt', {}, label), el('dd', {}, value ?? '—')];
const pre = (value, className = '') => el('pre', { class: className }, typeof value === 'string' ? value : json(value));

export function toolCallDetail(detail, onOpenConversation) {
  return el(
    'div',
    { class: 'detail' },
    el('h2', {}, detail.toolName, ' ', statusBadge(detail.status)),
    detail.confirmation ? confirmationSection(detail.confirmation) : null,
    el(
      'dl',
      {},
      detail.payment ? field('payment', [paymentChip(detail.payment), detail.payment.at ? el('span', { class: 'muted' }, ` ${formatTime(detail.payment.at)}`) : null]) : null,
      field('id', detail.id),
      field('created', formatTime(detail.createdAt)),
      field('completed', formatTime(detail.completedAt)),
      field('duration', detail.durationMs === null ? null : `${detail.durationMs} ms`),
      field('provider', detail.provider ? `${detail.provider} (${detail.model ?? '?'})` : null),
      field('idempotency key', detail.idempotencyKey),
      field('step', detail.step),
      field('channel', detail.conversation.channel),
      field('user', [detail.conversation.user, ' ', el('a', { class: 'person-all', href: `#/people/${detail.conversation.id}` }, 'all conversations of this person')]),
      field('conversation', el('a', { href: `#/conversations/${detail.conversation.id}`, onclick: onOpenConversation }, detail.conversation.id)),
    ),
    el('h3', {}, 'Arguments'),
    pre(detail.arguments, 'arguments'),
    el('h3', {}, 'Result'),
    pre(detail.result, 'result'),
    detail.error ? [el('h3', {}, 'Error'), pre(detail.error, 'error-text')] : null,
    detail.message ? [el('h3', {}, 'User message'), el('p', { class: 'message-text user-text' }, detail.message.text)] : null,
    replySection(detail),
  );
}

export function transcript(detail, onOpenToolCall) {
  return el(
    'div',
    { class: 'transcript' },
    el('h2', {}, `${detail.channel} · `, detail.user),
    el(
      'p',
      { class: 'muted' },
      `${detail.id} · started ${formatTime(detail.createdAt)}`,
      detail.hasFallback ? ' · has fallback' : '',
      typeof detail.costUsd === 'number' ? [' · ', el('span', { class: 'conversation-cost' }, `spent ${usd(detail.costUsd)}`)] : '',
      detail.hasError ? ' · has errors' : '',
    ),
    el('p', { class: 'person-line' }, personLink(detail, detail.id), el('span', { class: 'muted' }, ' · all conversations of this person')),
    detail.messages.length === 0 ? el('p', { class: 'muted' }, 'no messages yet') : detail.messages.map((message) => messageBubble(message, onOpenToolCall)),
  );
}

/** Where the conversation stands: with the agent, waiting for a person, or with one (and who). */
export function handoffState(detail) {
  const open = detail.handoff;
  const mode = detail.mode === 'human' ? el('span', { class: 'badge status-human' }, 'with a person') : el('span', { class: 'badge status-agent' }, 'with the agent');
  if (!open) {
    const last = detail.handoffs?.[0];
    return el(
      'div',
      { class: 'handoff-state' },
      el('p', { class: 'state-line' }, mode),
      last ? el('p', { class: 'muted' }, `Last handoff released ${formatTime(last.releasedAt)}${last.operatorName ? ` (held by ${last.operatorName})` : ''}.`) : null,
    );
  }
  return el(
    'div',
    { class: 'handoff-state' },
    el('p', { class: 'state-line' }, mode, ' ', statusBadge(open.status)),
    el(
      'dl',
      {},
      field('reason', reasonText(open.reason)),
      field('summary', open.summary),
      field('asked', formatTime(open.requestedAt)),
      field('operator', open.operatorName ?? 'nobody yet'),
      open.claimedAt ? field('taken over', formatTime(open.claimedAt)) : null,
    ),
  );
}

/** Operators' internal notes, oldest first. */
export function notesList(notes) {
  if (notes.length === 0) return [el('li', { class: 'muted empty' }, 'No notes yet.')];
  return notes.map((note) =>
    el(
      'li',
      { class: 'note', dataset: { id: note.id } },
      el('div', { class: 'muted note-meta' }, `${note.author} · ${formatTime(note.createdAt)}`),
      el('p', { class: 'message-text' }, note.text),
    ),
  );
}

const percent = (value) => `${(value * 100).toFixed(1)}%`;

export function statsSummary(stats) {
  return el(
    'div',
    { class: 'cards' },
    el('div', { class: 'card' }, el('h3', {}, 'Turns'), el('p', { class: 'big' }, stats.turns.finished)),
    el('div', { class: 'card' }, el('h3', {}, 'Fallback rate'), el('p', { class: 'big' }, percent(stats.turns.fallbackRate))),
    el('div', { class: 'card' }, el('h3', {}, 'Cache hits'), el('p', { class: 'big' }, percent(stats.turns.cacheHitRate))),
    el('div', { class: 'card' }, el('h3', {}, 'Provider failover'), el('p', { class: 'big' }, percent(stats.turns.providerFailoverRate))),
    el(
      'div',
      { class: 'card wide' },
      el('h3', {}, 'Messages per channel'),
      simpleTable(['channel', 'messages'], stats.messagesByChannel.map((row) => [row.channel, row.count])),
    ),
    el(
      'div',
      { class: 'card wide' },
      el('h3', {}, 'Latency per provider'),
      simpleTable(['provider', 'turns', 'p50 ms', 'p95 ms'], stats.latencyByProvider.map((row) => [row.provider, row.count, Math.round(row.p50Ms ?? 0), Math.round(row.p95Ms ?? 0)])),
    ),
    el(
      'div',
      { class: 'card wide' },
      el('h3', {}, 'Tool calls'),
      simpleTable(['tool', 'status', 'calls'], stats.toolCalls.map((row) => [row.tool, row.status, row.count])),
    ),
  );
}

export function simpleTable(headers, rows) {
  return el(
    'table',
    { class: 'small' },
    el('thead', {}, el('tr', {}, headers.map((header) => el('th', {}, header)))),
    el('tbody', {}, rows.length === 0 ? el('tr', {}, el('td', { colspan: headers.length, class: 'muted' }, 'nothing in this window')) : rows.map((row) => el('tr', {}, row.map((cell) => el('td', {}, cell))))),
  );
}

export function healthView(health) {
  const configured = (value) => el('span', { class: `badge ${value ? 'status-ok' : 'status-off'}` }, value ? 'configured' : 'not configured');
  const breaker = (state) => (state ? el('span', { class: `badge breaker-${state}` }, `breaker ${state}`) : el('span', { class: 'muted' }, 'no breaker'));
  return el(
    'div',
    { class: 'cards' },
    el(
      'div',
      { class: 'card wide' },
      el('h3', {}, 'LLM providers'),
      simpleTable(
        ['provider', 'status', 'order', 'model', 'breaker', 'errors (24 h)'],
        health.providers.map((provider) => [
          provider.name,
          configured(provider.configured),
          provider.position ?? '—',
          provider.model,
          breaker(provider.breaker),
          provider.recentErrors.length === 0 ? 'none' : provider.recentErrors.map((error) => `${error.kind} ×${error.count} (last ${formatTime(error.lastAt)})`).join('; '),
        ]),
      ),
    ),
    el(
      'div',
      { class: 'card wide' },
      el('h3', {}, 'Integrations'),
      simpleTable(['integration', 'status', 'breaker'], health.integrations.map((integration) => [integration.name, configured(integration.configured), breaker(integration.breaker)])),
    ),
    el(
      'div',
      { class: 'card wide' },
      el('h3', {}, 'Tools offered to the model'),
      simpleTable(['tool', 'status', 'why not'], (health.tools ?? []).map((tool) => [tool.tool, configured(tool.available), tool.reason ?? ''])),
    ),
    el(
      'div',
      { class: 'card wide' },
      el('h3', {}, 'Tool errors (24 h)'),
      simpleTable(['tool', 'errors', 'last', 'last error'], health.toolErrors.map((row) => [row.tool, row.count, formatTime(row.lastAt), row.lastError ?? ''])),
    ),
    health.whatsappWeb
      ? el(
          'div',
          { class: 'card wide', 'data-testid': 'whatsapp-pairing' },
          el('h3', {}, 'WhatsApp Web pairing'),
          el('p', {}, `State: ${health.whatsappWeb.state}`),
          health.whatsappWeb.qrImage
            ? el('img', { src: health.whatsappWeb.qrImage, alt: 'QR code: scan it in WhatsApp → Linked devices', width: '256', height: '256' })
            : null,
        )
      : null,
    health.queues.length > 0
      ? el('div', { class: 'card wide' }, el('h3', {}, 'Queues'), simpleTable(['queue', 'depth'], health.queues.map((queue) => [queue.name, queue.depth ?? '?'])))
      : null,
  );
}

// ---------- people ----------

const SVG = 'http://www.w3.org/2000/svg';
/** 16 px line icons per channel (paths only: no markup, no inline style). */
const CHANNEL_ICONS = {
  web: ['M8 1.5a6.5 6.5 0 1 0 0 13a6.5 6.5 0 1 0 0-13z', 'M8 1.5c-3.6 3.6-3.6 9.4 0 13c3.6-3.6 3.6-9.4 0-13z', 'M1.5 8h13'],
  sms: ['M2 2.5h12v8.5H7l-3.5 3v-3H2z', 'M5 6.75h6'],
  whatsapp: ['M8 1.5a6.5 6.5 0 0 0-5.6 9.8L1.5 14.5l3.3-.9A6.5 6.5 0 1 0 8 1.5z', 'M5.6 5.2c0 2.9 2.3 5.2 5.2 5.2l.7-1.4-1.6-.8-.7.7a3.4 3.4 0 0 1-2.1-2.1l.7-.7-.8-1.6z'],
  slack: ['M6.2 1.5 5 14.5', 'M11 1.5 9.8 14.5', 'M2 5.6h12.5', 'M1.5 10.4H14'],
  other: ['M8 2.5a3 3 0 1 0 0 6a3 3 0 1 0 0-6z', 'M2.5 14.5c.6-3 2.9-4.5 5.5-4.5s4.9 1.5 5.5 4.5'],
};
const ICON_OF = { web: 'web', sms: 'sms', whatsapp: 'whatsapp', 'whatsapp-cloud': 'whatsapp', 'whatsapp-web': 'whatsapp', slack: 'slack' };

export function channelIcon(channel) {
  const kind = ICON_OF[channel] ?? 'other';
  const icon = document.createElementNS(SVG, 'svg');
  for (const [key, value] of Object.entries({ viewBox: '0 0 16 16', width: '16', height: '16', class: `channel-icon ch-${kind}`, 'aria-hidden': 'true', focusable: 'false' })) icon.setAttribute(key, value);
  for (const d of CHANNEL_ICONS[kind]) {
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('d', d);
    icon.append(path);
  }
  return icon;
}

/**
 * A person in a list: channel icon and masked label ("Web visitor 3f2a…", "SMS ***67"), linking
 * to every conversation of theirs. A click here opens the person, not the row it sits in.
 */
export function personLink(item, conversationId) {
  const stop = (event) => event.stopPropagation();
  return el(
    'a',
    {
      class: 'person',
      href: `#/people/${conversationId}`,
      title: `${item.user} · all conversations of this person`,
      onclick: stop,
      onkeydown: (event) => event.key === 'Enter' && stop(event),
    },
    channelIcon(item.channel),
    el('span', { class: 'person-label' }, item.userLabel ?? item.user),
  );
}

/** A conversation's status in lists: with a person, fallbacks, errors, or "ok". */
function conversationFlags(item) {
  const flags = [item.mode === 'human' ? 'human' : null, item.hasFallback ? 'fallback' : null, item.hasError ? 'error' : null].filter(Boolean);
  if (flags.length === 0) return el('span', { class: 'muted', title: 'no fallback, no error' }, 'ok');
  return flags.flatMap((flag, index) => (index === 0 ? [statusBadge(flag)] : [' ', statusBadge(flag)]));
}

/** The head of the person view: who, on which channels, since when. */
export function personHead(person) {
  const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;
  return el(
    'div',
    { class: 'person-head' },
    el('h1', { class: 'view-title' }, el('span', { class: 'person-name' }, person.label), el('span', { class: 'muted' }, count(person.conversationCount, 'conversation', 'conversations'))),
    el(
      'ul',
      { class: 'person-channels' },
      person.channels.map((channel) =>
        el(
          'li',
          { dataset: { channel: channel.channel } },
          channelIcon(channel.channel),
          el('strong', {}, channel.name),
          channel.name.toLowerCase() === channel.channel ? '' : el('span', { class: 'muted' }, ` (${channel.channel})`),
          ` · ${count(channel.conversations, 'conversation', 'conversations')} · last active ${formatTime(channel.lastActiveAt)}`,
        ),
      ),
    ),
    el('p', { class: 'muted' }, `First seen ${formatTime(person.firstSeenAt)} · last active ${formatTime(person.lastActiveAt)}`),
  );
}
