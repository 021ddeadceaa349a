// The Spend view: what model calls cost (GET /api/admin/spend) per day, provider and model,
// channel and conversation, what could not be priced, the budgets and the turns they refused.
// Bars are sized through the CSSOM (element.style), which the console's CSP allows.
import { get } from './api.js';
import { clear, el } from './views.js';

const $ = (selector) => document.querySelector(selector);

/** USD as people read it: cents for sums above a dollar, more digits for the small amounts a turn costs. */
export function formatUsd(value) {
  if (value === null || value === undefined) return '—';
  if (value === 0) return '$0.00';
  const digits = value >= 1 ? 2 : value >= 0.01 ? 4 : 6;
  return `$${value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })}`;
}

const formatCount = (value) => Number(value ?? 0).toLocaleString('en-US');
const plural = (count, noun) => `${formatCount(count)} ${noun}${count === 1 ? '' : 's'}`;

const SCOPES = { conversation: 'per conversation', user_daily: 'per person per day (UTC)', global_daily: 'everyone per day (UTC)' };
const scopeText = (scope) => SCOPES[scope] ?? scope;

/** A bar proportional to `value` of `max`, with the number beside it. */
function bar(value, max, label) {
  const fill = el('span', { class: 'spend-bar-fill' });
  fill.style.width = `${max > 0 ? Math.max(1, Math.round((value / max) * 100)) : 0}%`;
  return el('span', { class: 'spend-bar', title: label }, fill);
}

/** A table of spend rows: `columns` are [heading, row → cell] before the cost, tokens and turns. */
function spendTable(caption, rows, columns, { onOpen } = {}) {
  const max = Math.max(0, ...rows.map((row) => row.costUsd));
  return el(
    'div',
    { class: 'card spend-card' },
    el('h3', {}, caption),
    el(
      'table',
      { class: 'small spend-table' },
      el('thead', {}, el('tr', {}, columns.map(([heading]) => el('th', {}, heading)), el('th', { class: 'num' }, 'cost'), el('th', {}, ''), el('th', { class: 'num' }, 'turns'), el('th', { class: 'num' }, 'tokens in / out'))),
      el(
        'tbody',
        {},
        rows.map((row) =>
          el(
            'tr',
            onOpen ? { tabindex: '0', onclick: () => onOpen(row), onkeydown: (event) => event.key === 'Enter' && onOpen(row) } : { class: 'static' },
            columns.map(([, cell]) => el('td', {}, cell(row))),
            el('td', { class: 'num nowrap' }, formatUsd(row.costUsd)),
            el('td', { class: 'bar-cell' }, bar(row.costUsd, max, formatUsd(row.costUsd))),
            el('td', { class: 'num' }, formatCount(row.turns)),
            el('td', { class: 'num nowrap' }, `${formatCount(row.inputTokens)} / ${formatCount(row.outputTokens)}`),
          ),
        ),
      ),
    ),
  );
}

/** Every day of the window, the days without spend at zero: a gap is a quiet day, not a missing one. */
function everyDay(window, days) {
  const byDay = new Map(days.map((day) => [day.day, day]));
  const out = [];
  const end = new Date(window.to);
  for (let at = new Date(`${window.from.slice(0, 10)}T00:00:00Z`); at < end && out.length < 400; at = new Date(at.getTime() + 86_400_000)) {
    const key = at.toISOString().slice(0, 10);
    out.push(byDay.get(key) ?? { day: key, costUsd: 0, turns: 0, inputTokens: 0, outputTokens: 0 });
  }
  return out;
}

function dayChart(window, days) {
  const all = everyDay(window, days);
  const max = Math.max(0, ...all.map((day) => day.costUsd));
  // Every day has its column; a label for at most about 12 of them, so they never overlap.
  const labelEvery = Math.max(1, Math.ceil(all.length / 12));
  return el(
    'figure',
    { class: 'chart spend-days', 'aria-label': `Spend per day, highest ${formatUsd(max)}` },
    el('figcaption', {}, 'Per day (UTC)', max > 0 ? el('span', { class: 'muted' }, ` · highest ${formatUsd(max)} on ${all.find((day) => day.costUsd === max).day}`) : ''),
    el(
      'div',
      { class: 'spend-columns' },
      all.map((day, index) => {
        const column = el('span', { class: 'spend-column-fill' });
        column.style.height = `${max > 0 ? Math.round((day.costUsd / max) * 100) : 0}%`;
        return el(
          'div',
          { class: 'spend-column', title: `${day.day}: ${formatUsd(day.costUsd)} · ${formatCount(day.turns)} turns`, dataset: { day: day.day } },
          el('span', { class: 'spend-column-track' }, column),
          el('span', { class: 'spend-column-label' }, (all.length - 1 - index) % labelEvery === 0 ? day.day.slice(5) : ''),
        );
      }),
    ),
  );
}

function budgetsCard(spend) {
  const limits = [
    ['conversation', spend.budgets.conversationUsd],
    ['user_daily', spend.budgets.userDailyUsd],
    ['global_daily', spend.budgets.globalDailyUsd],
  ];
  const refused = new Map(spend.budgetRefusals.map((row) => [row.scope, row.count]));
  return el(
    'div',
    { class: 'card spend-card' },
    el('h3', {}, 'Budgets'),
    el(
      'table',
      { class: 'small spend-table' },
      el('thead', {}, el('tr', {}, el('th', {}, 'scope'), el('th', { class: 'num' }, 'limit'), el('th', { class: 'num' }, 'refused in this window'))),
      el(
        'tbody',
        {},
        limits.map(([scope, limit]) =>
          el(
            'tr',
            { class: 'static', dataset: { scope } },
            el('td', {}, scopeText(scope)),
            el('td', { class: 'num' }, limit === null ? 'no limit' : formatUsd(limit)),
            el('td', { class: 'num' }, formatCount(refused.get(scope) ?? 0)),
          ),
        ),
      ),
    ),
    el('p', { class: 'muted' }, 'A refused message is answered with BUDGET_REPLY, without a model call; its transcript says which budget.'),
  );
}

function pricesCard(spend) {
  return el(
    'div',
    { class: 'card spend-card' },
    el('h3', {}, 'Prices in effect (USD per million tokens)'),
    spend.prices.length === 0
      ? el('p', { class: 'muted' }, 'No LLM provider is configured.')
      : el(
          'table',
          { class: 'small spend-table' },
          el('thead', {}, el('tr', {}, el('th', {}, 'provider'), el('th', {}, 'model'), el('th', { class: 'num' }, 'input'), el('th', { class: 'num' }, 'output'))),
          el(
            'tbody',
            {},
            spend.prices.map((price) =>
              el(
                'tr',
                { class: 'static' },
                el('td', {}, price.provider),
                el('td', { class: 'tool' }, price.model),
                price.inputPerMillionUsd === null
                  ? el('td', { class: 'num warn', colspan: 2 }, 'no price: tokens only (set MODEL_PRICES)')
                  : [el('td', { class: 'num' }, formatUsd(price.inputPerMillionUsd)), el('td', { class: 'num' }, formatUsd(price.outputPerMillionUsd))],
              ),
            ),
          ),
        ),
    spend.unpriced.length > 0
      ? el(
          'p',
          { class: 'warn unpriced' },
          'Not priced in this window: ',
          spend.unpriced
            .map((row) => `${row.provider ?? '?'}/${row.model ?? '?'} (${plural(row.turns, 'turn')}, ${plural(row.inputTokens + row.outputTokens, 'token')})`)
            .join(', '),
        )
      : null,
  );
}

/** The whole view for one answer of GET /api/admin/spend. */
export function spendView(spend, { onOpenConversation }) {
  const { total } = spend;
  const summary = el(
    'div',
    { class: 'cards' },
    el('div', { class: 'card' }, el('h3', {}, 'Spent'), el('p', { class: 'big', id: 'spend-total' }, formatUsd(total.costUsd))),
    el('div', { class: 'card' }, el('h3', {}, 'Priced turns'), el('p', { class: 'big' }, formatCount(total.turns))),
    el('div', { class: 'card' }, el('h3', {}, 'Per turn'), el('p', { class: 'big' }, formatUsd(total.turns > 0 ? total.costUsd / total.turns : 0))),
    el('div', { class: 'card' }, el('h3', {}, 'Tokens in / out'), el('p', { class: 'big small-big' }, `${formatCount(total.inputTokens)} / ${formatCount(total.outputTokens)}`)),
  );
  if (total.turns === 0) {
    return el(
      'div',
      {},
      el(
        'p',
        { class: 'empty-state', id: 'spend-empty' },
        'No priced model calls in this window. Spend appears here as the agent answers; a model without a price (see below) counts tokens only.',
      ),
      el('div', { class: 'spend-grid' }, pricesCard(spend), budgetsCard(spend)),
    );
  }
  return el(
    'div',
    {},
    summary,
    dayChart(spend.window, spend.byDay),
    el(
      'div',
      { class: 'spend-grid' },
      spendTable('Per provider', spend.byProvider, [['provider', (row) => row.provider]]),
      spendTable('Per model', spend.byModel, [
        ['provider', (row) => row.provider ?? '—'],
        ['model', (row) => el('span', { class: 'tool' }, row.model ?? '—')],
      ]),
      spendTable('Per channel', spend.byChannel, [['channel', (row) => row.channel]]),
      spendTable('Costliest conversations', spend.topConversations, [['person', (row) => row.user], ['channel', (row) => row.channel]], {
        onOpen: (row) => onOpenConversation(row.id),
      }),
      pricesCard(spend),
      budgetsCard(spend),
    ),
  );
}

/** Reads the window chosen in the view's form and renders it; `onError` gets API errors (401 included). */
export async function loadSpend({ onError }) {
  const target = $('#spend');
  $('#spend-error').textContent = '';
  try {
    const days = Number(new FormData($('#spend-filters')).get('window') ?? 30);
    const to = new Date();
    const from = new Date(to.getTime() - days * 86_400_000);
    const spend = await get('/api/admin/spend', { from: from.toISOString(), to: to.toISOString() });
    clear(target);
    target.append(spendView(spend, { onOpenConversation: (id) => (location.hash = `#/conversations/${id}`) }));
  } catch (error) {
    onError(error);
  }
}
