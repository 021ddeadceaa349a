/*!
 * Switchboard chat widget. Embed with one tag:
 *   <script src="https://HOST/widget.js" data-workspace-key="wk_..." data-title="Support" data-open="true" defer></script>
 * data-workspace-key names the workspace the chat belongs to (its public widget key; without it, the
 * server's default workspace). data-open="true" opens the chat on load on screens at least 1024 px
 * wide (narrower ones show the launcher).
 * Served as-is (no build step). Talks to the server it was loaded from over socket.io.
 * Page API: window.Switchboard.open(), .close(), .send(text) -> Promise<ack>, .conversationId.
 */
(function () {
  'use strict';

  if (window.Switchboard) return; // embedded twice: the first instance wins

  var ownScript = document.currentScript || findOwnScript();
  if (!ownScript || !ownScript.src) {
    console.error('[switchboard] widget.js could not find its own <script src> to derive the server origin');
    return;
  }

  var SERVER_ORIGIN = new URL(ownScript.src, location.href).origin;
  var OPTIONS = {
    title: (ownScript.getAttribute('data-title') || '').trim() || 'Chat with us',
    startOpen: ownScript.getAttribute('data-open') === 'true',
    workspaceKey: (ownScript.getAttribute('data-workspace-key') || '').trim(),
  };
  /**
   * data-open="true" opens the chat on load only where it fits beside the page: on a narrower
   * screen the open panel would cover the page the visitor came to read (on a phone, all of it),
   * so the launcher shows instead.
   */
  var OPEN_ON_LOAD_MEDIA = '(min-width: 1024px)';
  // localStorage is already per page origin; add the server origin only when the widget is embedded elsewhere,
  // and the workspace key when there is one (a conversation is one workspace's: another key never resumes it).
  var KEY_SUFFIX = (SERVER_ORIGIN === location.origin ? '' : ':' + SERVER_ORIGIN) + (OPTIONS.workspaceKey ? ':' + OPTIONS.workspaceKey : '');
  var TOKEN_KEY = 'switchboard.token' + KEY_SUFFIX;
  var TRANSCRIPT_KEY = 'switchboard.transcript' + KEY_SUFFIX;

  var ACK_TIMEOUT_MS = 10000;
  var MAX_SEND_ATTEMPTS = 3;
  var TRANSCRIPT_LIMIT = 60;
  var RECONNECT_DELAYS_MS = [1000, 2000, 5000, 10000, 30000];
  /** At most this many waiting confirmations are named in the handshake (the server's limit). */
  var MAX_SHOWN_CONFIRMATIONS = 20;

  var ERROR_LABELS = {
    message_too_long: 'Message too long',
    empty_message: 'Message is empty',
    invalid_payload: 'Message could not be sent',
    rate_limited: 'Too many messages',
    shutting_down: 'The chat server is restarting',
    internal_error: 'Something went wrong',
    not_delivered: 'Message not delivered',
    unknown_workspace: 'Chat unavailable',
    origin_not_allowed: 'Chat unavailable',
    workspace_suspended: 'Chat unavailable',
  };
  /**
   * The server refused this widget's setup (`connect_error` with one of these `data.code`s): an
   * unknown data-workspace-key, a page outside the workspace's allowed origins, a suspended
   * workspace. Retrying cannot help, so the widget stops and says the chat is unavailable.
   */
  var SETUP_REFUSALS = ['unknown_workspace', 'origin_not_allowed', 'workspace_suspended'];
  var FALLBACK_HINT = 'Automatic reply: the assistant is unavailable right now.';
  var AUTHORS = ['user', 'agent', 'operator', 'system'];
  var HANDOFF_STATUSES = ['waiting', 'active', 'released'];
  var RELEASED_NOTICE_MS = 6000;
  var HANDOFF_RESEND_GRACE_MS = 5000;

  function findOwnScript() {
    var scripts = document.querySelectorAll('script[src]');
    for (var i = scripts.length - 1; i >= 0; i--) {
      if (/\/widget\.js(\?|#|$)/.test(scripts[i].src)) return scripts[i];
    }
    return null;
  }

  /* ---------- small utilities ---------- */

  var storage = {
    get: function (key) {
      try {
        return window.localStorage.getItem(key);
      } catch (_) {
        return null; // storage disabled (privacy mode, sandboxed iframe): the widget still works, without resume
      }
    },
    set: function (key, value) {
      try {
        if (value === null) window.localStorage.removeItem(key);
        else window.localStorage.setItem(key, value);
      } catch (_) {
        /* quota or disabled storage: resume is best-effort */
      }
    },
  };

  function newClientMessageId() {
    var cryptoApi = window.crypto;
    if (cryptoApi && typeof cryptoApi.randomUUID === 'function') return cryptoApi.randomUUID();
    var bytes = new Uint8Array(16);
    if (cryptoApi && typeof cryptoApi.getRandomValues === 'function') cryptoApi.getRandomValues(bytes);
    else for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // RFC 4122 version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) {
      return (b < 16 ? '0' : '') + b.toString(16);
    }).join('');
    return hex.slice(0, 8) + '-' + hex.slice(8, 12) + '-' + hex.slice(12, 16) + '-' + hex.slice(16, 20) + '-' + hex.slice(20);
  }

  function el(tag, attributes, children) {
    var node = document.createElement(tag);
    for (var name in attributes) {
      if (Object.prototype.hasOwnProperty.call(attributes, name)) node.setAttribute(name, attributes[name]);
    }
    (children || []).forEach(function (child) {
      node.append(child);
    });
    return node;
  }

  var SVG_NS = 'http://www.w3.org/2000/svg';
  function icon(pathData) {
    var svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    var path = document.createElementNS(SVG_NS, 'path');
    path.setAttribute('d', pathData);
    svg.append(path);
    return svg;
  }
  var ICON_CHAT = 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z';
  var ICON_CLOSE = 'M6 6l12 12M18 6L6 18';
  var ICON_HIDE = 'M6 9l6 6 6-6';
  var ICON_SEND = 'M3 20l18-8L3 4v6l12 2-12 2z';

  /* ---------- text rendering: text nodes only, links built element by element ---------- */

  var URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`]+/gi;
  var TRAILING_PUNCTUATION = /[.,;:!?'"\]}>]$/;

  function trimUrl(candidate) {
    for (;;) {
      if (TRAILING_PUNCTUATION.test(candidate)) {
        candidate = candidate.slice(0, -1);
      } else if (candidate.endsWith(')') && count(candidate, '(') < count(candidate, ')')) {
        candidate = candidate.slice(0, -1); // "(see https://x.y/z)" keeps the paren out, "wiki/Foo_(bar)" keeps it in
      } else {
        return candidate;
      }
    }
  }

  function count(text, character) {
    return text.split(character).length - 1;
  }

  function safeHttpUrl(candidate) {
    try {
      var url = new URL(candidate);
      return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  /** Replaces target's content with `text`: plain text nodes, plus <a> for bare http(s) URLs. Never parses HTML. */
  function renderText(target, text) {
    target.replaceChildren();
    var last = 0;
    URL_PATTERN.lastIndex = 0;
    var match;
    while ((match = URL_PATTERN.exec(text)) !== null) {
      var candidate = trimUrl(match[0]);
      var href = safeHttpUrl(candidate);
      if (!href) continue;
      if (match.index > last) target.append(document.createTextNode(text.slice(last, match.index)));
      var link = document.createElement('a');
      link.href = href;
      link.target = '_blank';
      link.rel = 'noopener noreferrer';
      link.textContent = candidate;
      target.append(link);
      last = match.index + candidate.length;
    }
    if (last < text.length) target.append(document.createTextNode(text.slice(last)));
  }

  function describeError(error) {
    var code = (error && error.code) || 'internal_error';
    var label = ERROR_LABELS[code] || 'Message could not be sent';
    var retryAfterMs = error && (error.retryAfterMs != null ? error.retryAfterMs : error.retry_after_ms);
    if (code === 'rate_limited' && typeof retryAfterMs === 'number') {
      return label + ': try again in ' + Math.max(1, Math.ceil(retryAfterMs / 1000)) + ' s.';
    }
    var detail = error && typeof error.message === 'string' ? error.message.trim() : '';
    return detail ? label + ': ' + detail + (/[.!?]$/.test(detail) ? '' : '.') : label + '.';
  }

  /* ---------- styles (isolated in the shadow root) ---------- */

  var STYLES = [
    ':host { all: initial; }',
    '*, *::before, *::after { box-sizing: border-box; }',
    '[hidden] { display: none !important; }',
    '.root { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1f2330; }',
    '.launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; width: 58px; height: 58px; border: 0; border-radius: 50%;',
    '  background: #4f46e5; color: #fff; cursor: pointer; box-shadow: 0 6px 20px rgba(40, 35, 120, .35); display: grid; place-items: center; }',
    '.launcher:hover { background: #4338ca; }',
    '.launcher svg { width: 26px; height: 26px; fill: currentColor; }',
    '.launcher[aria-expanded="true"] svg { fill: none; stroke: currentColor; stroke-width: 2.4; stroke-linecap: round; stroke-linejoin: round; }',
    '.launcher[data-unread="true"]::after { content: ""; position: absolute; top: 6px; right: 6px; width: 12px; height: 12px;',
    '  border-radius: 50%; background: #f43f5e; border: 2px solid #fff; }',
    'button:focus-visible, textarea:focus-visible, a:focus-visible, .messages:focus-visible, .note:focus-visible { outline: 3px solid #a5b4fc; outline-offset: 2px; }',
    '.panel { position: fixed; right: 20px; bottom: 92px; z-index: 2147483001; width: 380px; max-width: calc(100vw - 40px);',
    '  height: 580px; max-height: calc(100vh - 120px); display: flex; flex-direction: column; background: #fff;',
    '  border-radius: 16px; overflow: hidden; box-shadow: 0 16px 48px rgba(17, 24, 39, .25), 0 0 0 1px rgba(17, 24, 39, .06); }',
    '.header { display: flex; align-items: center; gap: 10px; padding: 14px 14px 14px 18px; background: #4f46e5; color: #fff; }',
    '.heading { flex: 1; min-width: 0; }',
    '.title { margin: 0; font-size: 16px; font-weight: 600; line-height: 1.3; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }',
    '.status { display: flex; align-items: center; gap: 6px; font-size: 12.5px; opacity: .9; }',
    '.status::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: #fbbf24; }',
    '.panel[data-connection="online"] .status::before { background: #34d399; }',
    '.panel[data-connection="offline"] .status::before { background: #f87171; }',
    '.close { width: 36px; height: 36px; border: 0; border-radius: 10px; background: transparent; color: #fff; cursor: pointer; display: grid; place-items: center; }',
    '.close:hover { background: rgba(255, 255, 255, .15); }',
    '.close svg { width: 20px; height: 20px; stroke: currentColor; stroke-width: 2.2; stroke-linecap: round; fill: none; }',
    '.messages { flex: 1; overflow-y: auto; padding: 16px 14px 8px; display: flex; flex-direction: column; gap: 10px; background: #f6f7fb; overscroll-behavior: contain; }',
    '.empty { margin: auto 8px; text-align: center; color: #6b7280; font-size: 14px; }',
    '.message { display: flex; flex-direction: column; max-width: 85%; }',
    '.message[data-role="user"] { align-self: flex-end; align-items: flex-end; }',
    '.message[data-role="assistant"] { align-self: flex-start; align-items: flex-start; }',
    '.bubble { padding: 9px 13px; border-radius: 16px; white-space: pre-wrap; overflow-wrap: anywhere; }',
    '.message[data-role="user"] .bubble { background: #4f46e5; color: #fff; border-bottom-right-radius: 5px; }',
    '.message[data-role="user"] .bubble a { color: #fff; }',
    '.message[data-role="user"][data-status="pending"] .bubble { opacity: .7; }',
    '.message[data-role="user"][data-status="error"] .bubble { background: #e5e7eb; color: #374151; }',
    '.message[data-role="assistant"] .bubble { background: #fff; color: #1f2330; border-bottom-left-radius: 5px; box-shadow: 0 1px 2px rgba(17, 24, 39, .08); }',
    '.message[data-role="assistant"] .bubble a { color: #4338ca; }',
    '.message[data-status="fallback"] .bubble { background: #fffbeb; border: 1px dashed #f59e0b; box-shadow: none; }',
    '.message[data-role="assistant"][data-status="error"] .bubble { background: #fef2f2; color: #7f1d1d; }',
    '.note { margin-top: 4px; font-size: 12.5px; color: #6b7280; }',
    '.message[data-status="error"] .note { color: #b91c1c; }',
    '.message[data-status="fallback"] .note { color: #92400e; }',
    '.tools { display: flex; flex-wrap: wrap; gap: 4px; margin-top: 4px; }',
    '.tool { font-size: 11.5px; padding: 1px 8px; border-radius: 999px; background: #eef2ff; color: #3730a3; }',
    '.tool[data-status="ok"]::before { content: "\\2713"; margin-right: 4px; }',
    '.tool[data-status="pending"], .tool[data-status="running"] { background: #fef3c7; color: #92400e; }',
    '.tool[data-status="declined"], .tool[data-status="expired"] { background: #f3f4f6; color: #4b5563; }',
    '.tool[data-status="error"], .tool[data-status="invalid"], .tool[data-status="refused"] { background: #fee2e2; color: #991b1b; }',
    '.confirm .bubble { border: 1px solid #c7d2fe; }',
    '.confirm-actions { display: flex; gap: 8px; margin-top: 6px; }',
    '.confirm-actions button { font: inherit; font-size: 13.5px; padding: 6px 14px; border-radius: 10px; cursor: pointer; border: 1px solid #4f46e5; }',
    '.confirm-actions .confirm-yes { background: #4f46e5; color: #fff; }',
    '.confirm-actions .confirm-no { background: #fff; color: #4338ca; }',
    '.confirm-actions button:disabled { opacity: .5; cursor: not-allowed; }',
    '.confirm-actions button[aria-disabled="true"] { opacity: .6; cursor: progress; }',
    '.message.confirm[data-status="settled"] .bubble { border-color: #e5e7eb; color: #4b5563; }',
    '.confirm .note[data-outcome] { align-self: flex-start; display: inline-flex; align-items: center; gap: 5px; margin-top: 6px; padding: 2px 10px;',
    '  border-radius: 999px; font-weight: 600; }',
    '.confirm .note[data-outcome="ok"]::before, .confirm .note[data-outcome="running"]::before { content: "\\2713"; }',
    '.note[data-outcome="ok"], .note[data-outcome="running"] { background: #ecfdf5; color: #065f46; }',
    '.note[data-outcome="declined"], .note[data-outcome="expired"] { background: #f3f4f6; color: #374151; }',
    '.note[data-outcome="error"] { background: #fef2f2; color: #991b1b; }',
    '.author { display: flex; align-items: baseline; gap: 4px; margin: 0 0 3px 4px; font-size: 12.5px; color: #6b7280; }',
    '.author [data-role="author-name"] { font-weight: 600; color: #065f46; }',
    '.message[data-author="operator"] .bubble { background: #ecfdf5; color: #064e3b; border: 1px solid #a7f3d0; box-shadow: none; }',
    '.message[data-author="operator"] .bubble a { color: #047857; }',
    '.message[data-author="system"] { align-self: center; align-items: center; max-width: 92%; }',
    '.message[data-author="system"] .bubble { background: transparent; color: #4b5563; border: 1px dashed #cbd5e1; border-radius: 12px;',
    '  box-shadow: none; font-size: 13.5px; text-align: center; padding: 7px 12px; }',
    '.handoff { flex: none; display: flex; align-items: center; gap: 8px; padding: 0 16px; font-size: 13.5px; line-height: 1.35; color: #1f2330;',
    '  border-bottom: 1px solid #e5e7eb; }',
    '.handoff:empty { border-bottom: 0; }',
    '.handoff:not(:empty) { padding: 9px 16px; }',
    '.handoff::before { content: ""; flex: none; width: 8px; height: 8px; border-radius: 50%; }',
    '.handoff:empty::before { display: none; }',
    '.handoff[data-state="waiting"] { background: #fffbeb; color: #78350f; }',
    '.handoff[data-state="waiting"]::before { background: #f59e0b; animation: sb-blink 1.6s infinite ease-in-out; }',
    '.handoff[data-state="active"] { background: #ecfdf5; color: #064e3b; }',
    '.handoff[data-state="active"]::before { background: #10b981; }',
    '.handoff[data-state="released"] { background: #eef2ff; color: #3730a3; }',
    '.handoff[data-state="released"]::before { background: #6366f1; }',
    '.typing { display: inline-flex; gap: 4px; padding: 4px 0; }',
    '.typing span { width: 7px; height: 7px; border-radius: 50%; background: #9ca3af; animation: sb-blink 1.2s infinite ease-in-out; }',
    '.typing span:nth-child(2) { animation-delay: .2s; }',
    '.typing span:nth-child(3) { animation-delay: .4s; }',
    '@keyframes sb-blink { 0%, 80%, 100% { opacity: .25; } 40% { opacity: 1; } }',
    '.composer { display: flex; align-items: flex-end; gap: 8px; padding: 10px 12px 12px; border-top: 1px solid #e5e7eb; background: #fff; }',
    '.input { flex: 1; resize: none; min-height: 42px; max-height: 132px; padding: 10px 12px; border: 1px solid #d1d5db; border-radius: 12px;',
    '  font: inherit; color: inherit; background: #fff; line-height: 1.4; }',
    '.input:focus { border-color: #6366f1; outline: none; box-shadow: 0 0 0 3px rgba(99, 102, 241, .2); }',
    '.send { flex: none; width: 42px; height: 42px; border: 0; border-radius: 12px; background: #4f46e5; color: #fff; cursor: pointer; display: grid; place-items: center; }',
    '.send svg { width: 20px; height: 20px; fill: currentColor; }',
    '.send:disabled { background: #c7c9d9; cursor: not-allowed; }',
    '.sr-only { position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }',
    '@media (max-width: 479.98px) {',
    '  .panel { inset: 0; width: 100%; max-width: none; height: 100%; max-height: none; border-radius: 0; }',
    '  .panel:not([hidden]) ~ .launcher { display: none; }',
    '  .message { max-width: 90%; }',
    '}',
    '@supports (height: 100dvh) { @media (max-width: 479.98px) { .panel { height: 100dvh; } } }',
    '@media (prefers-reduced-motion: reduce) { .typing span, .handoff::before { animation: none !important; opacity: .6; } }',
  ].join('\n');

  /* ---------- the widget ---------- */

  function createWidget() {
    var host = el('div', { id: 'switchboard-widget' });
    var shadow = host.attachShadow({ mode: 'open' });
    var style = document.createElement('style');
    style.textContent = STYLES;

    var titleText = el('h2', { class: 'title', id: 'sb-title' });
    titleText.textContent = OPTIONS.title;
    var statusText = el('div', { class: 'status', 'data-testid': 'switchboard-status' });
    statusText.textContent = 'Connecting…';
    var closeButton = el('button', { type: 'button', class: 'close', 'aria-label': 'Close chat', 'data-testid': 'switchboard-close' }, [
      icon(ICON_CLOSE),
    ]);
    var header = el('div', { class: 'header' }, [el('div', { class: 'heading' }, [titleText, statusText]), closeButton]);

    // Always in the tree (empty and zero-height without a handoff): a live region that appears
    // together with its first text is not reliably announced.
    var handoffStatus = el('div', {
      class: 'handoff',
      role: 'status',
      'aria-live': 'polite',
      'aria-atomic': 'true',
      'data-testid': 'handoff-status',
      'data-state': 'none',
    });

    var emptyHint = el('p', { class: 'empty' });
    emptyHint.textContent = 'Ask a question and the assistant will answer here.';
    // Streaming text is not announced token by token: the announcer below reads each finished reply once.
    var messages = el('div', {
      class: 'messages',
      role: 'log',
      'aria-live': 'off',
      'aria-label': 'Conversation',
      tabindex: '0',
      'data-testid': 'switchboard-messages',
    }, [emptyHint]);
    var announcer = el('div', { class: 'sr-only', 'aria-live': 'polite', 'aria-atomic': 'true', 'data-testid': 'switchboard-announcer' });

    var input = el('textarea', {
      class: 'input',
      rows: '1',
      placeholder: 'Type a message…',
      'aria-label': 'Message',
      enterkeyhint: 'send',
      'data-testid': 'switchboard-input',
    });
    var sendButton = el('button', { type: 'submit', class: 'send', 'aria-label': 'Send message', 'data-testid': 'switchboard-send', disabled: '' }, [
      icon(ICON_SEND),
    ]);
    var composer = el('form', { class: 'composer', 'aria-label': 'Send a message' }, [input, sendButton]);

    var panel = el('section', {
      class: 'panel',
      id: 'sb-panel',
      role: 'dialog',
      'aria-labelledby': 'sb-title',
      'aria-modal': 'false',
      'data-testid': 'switchboard-panel',
      'data-connection': 'connecting',
      hidden: '',
    }, [header, handoffStatus, messages, announcer, composer]);

    var launcher = el('button', {
      type: 'button',
      class: 'launcher',
      'aria-label': 'Open chat',
      'aria-expanded': 'false',
      'aria-controls': 'sb-panel',
      'data-testid': 'switchboard-launcher',
    }, [icon(ICON_CHAT)]);

    shadow.append(style, el('div', { class: 'root' }, [panel, launcher]));
    document.body.append(host);

    return {
      shadow: shadow,
      panel: panel,
      launcher: launcher,
      closeButton: closeButton,
      statusText: statusText,
      handoffStatus: handoffStatus,
      messages: messages,
      emptyHint: emptyHint,
      announcer: announcer,
      composer: composer,
      input: input,
      sendButton: sendButton,
    };
  }

  function start() {
    var ui = createWidget();
    var socket = null;
    var conversationId = null;
    var connectionEpoch = 0;
    var reconnectAttempt = 0;
    var reconnectTimer = null;
    /** Set when the server refused this widget's setup (SETUP_REFUSALS): no reconnecting, and sends fail at once. */
    var refusal = null;
    /** Messages sent but not yet acknowledged, by clientMessageId; re-sent with the same id after a reconnect. */
    var outbox = new Map();
    /** Assistant bubbles by server messageId. */
    var replies = new Map();
    /** Reply events that arrived before the ack told us which message they answer. */
    var earlyEvents = new Map();
    var transcript = loadTranscript();

    /* --- transcript: what the visitor saw, so a reload shows the conversation the server resumes --- */

    function loadTranscript() {
      try {
        var stored = JSON.parse(storage.get(TRANSCRIPT_KEY) || 'null');
        if (stored && Array.isArray(stored.entries)) return stored;
      } catch (_) {
        /* a corrupt transcript is dropped */
      }
      return { conversationId: null, entries: [] };
    }

    function saveTranscript() {
      transcript.entries = transcript.entries.slice(-TRANSCRIPT_LIMIT);
      storage.set(TRANSCRIPT_KEY, JSON.stringify(transcript));
    }

    /** The transcript entry of each recorded row, so an entry is kept in the order the rows are shown. */
    var rowEntries = new WeakMap();

    function record(view) {
      if (view.recorded) return;
      view.recorded = true;
      rowEntries.set(view.row, view.entry);
      // A reply is recorded when it finishes, which may be after a row shown below it (the question
      // its turn asked): it goes before the first recorded row that follows it.
      var at = -1;
      for (var next = view.row.nextElementSibling; next && at < 0; next = next.nextElementSibling) {
        if (rowEntries.has(next)) at = transcript.entries.indexOf(rowEntries.get(next));
      }
      if (at >= 0) transcript.entries.splice(at, 0, view.entry);
      else transcript.entries.push(view.entry);
      saveTranscript();
    }

    /* --- message views --- */

    function isNearBottom() {
      var box = ui.messages;
      return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    }

    function scrollToBottom(force) {
      if (force || isNearBottom()) ui.messages.scrollTop = ui.messages.scrollHeight;
    }

    function addMessage(role, status, after) {
      var author = role === 'user' ? 'user' : 'agent'; // an operator's or a notice's row learns its author at reply.done
      var bubble = el('div', { class: 'bubble' });
      var row = el('div', { class: 'message', 'data-testid': 'switchboard-message', 'data-role': role, 'data-author': author, 'data-status': status }, [bubble]);
      var follow = isNearBottom();
      ui.emptyHint.hidden = true;
      if (after && after.parentNode === ui.messages) after.after(row);
      else ui.messages.append(row);
      if (follow) scrollToBottom(true);
      return {
        row: row,
        bubble: bubble,
        text: '',
        recorded: false,
        entry: { role: role, author: author, text: '', status: status },
      };
    }

    /** Who wrote a row: `user`, `agent`, `operator` (shown with their name) or `system` (a notice). */
    function setAuthor(view, author, operatorName) {
      view.row.setAttribute('data-author', author);
      view.entry.author = author;
      view.entry.operatorName = author === 'operator' && operatorName ? operatorName : undefined;
      var label = view.row.querySelector('.author');
      if (label) label.remove();
      if (author !== 'operator') return;
      var name = el('span', { 'data-role': 'author-name' });
      name.textContent = operatorName || 'Our team';
      var parts = [name];
      if (operatorName) {
        var dot = el('span', { 'aria-hidden': 'true' });
        dot.textContent = '·';
        var team = el('span');
        team.textContent = 'Team member';
        parts.push(dot, team);
      }
      view.row.prepend(el('div', { class: 'author' }, parts));
    }

    function setNote(view, text, options) {
      var follow = isNearBottom();
      var note = view.row.querySelector('.note');
      if (!text) {
        if (note) note.remove();
        view.entry.note = undefined;
        return;
      }
      if (!note) {
        note = el('div', { class: 'note', 'data-testid': 'switchboard-message-note' });
        if (options && options.alert) note.setAttribute('role', 'alert');
        view.bubble.after(note);
      }
      note.textContent = text;
      view.entry.note = text;
      if (follow) scrollToBottom(true);
    }

    function setStatus(view, status) {
      view.row.setAttribute('data-status', status);
      view.entry.status = status;
    }

    function showTyping(view) {
      var dots = el('span', { class: 'typing', 'aria-label': 'Assistant is typing' }, [el('span'), el('span'), el('span')]);
      view.bubble.replaceChildren(dots);
    }

    /** The id of the newest server reply in the transcript: what the visitor last received. */
    function newestReplyId() {
      for (var i = transcript.entries.length - 1; i >= 0; i--) {
        var entry = transcript.entries[i];
        if (entry.role === 'assistant' && typeof entry.messageId === 'string') return entry.messageId;
      }
      return null;
    }

    function restoreTranscript() {
      transcript.entries.forEach(function (entry) {
        var view = addMessage(entry.role, entry.status);
        view.entry = entry;
        view.recorded = true;
        rowEntries.set(view.row, entry);
        if (entry.kind === 'confirmation') {
          if (typeof entry.confirmationId === 'string') addConfirmationCard(entry, view);
          else view.row.remove();
          return;
        }
        // Transcripts saved before authors existed: the role tells.
        setAuthor(view, AUTHORS.indexOf(entry.author) >= 0 ? entry.author : entry.role === 'user' ? 'user' : 'agent', entry.operatorName);
        view.text = entry.text;
        renderText(view.bubble, entry.text);
        if (entry.note) setNote(view, entry.note);
        drawChips(view);
        // A finished reply the server may send again (missed-replies catch-up) changes nothing.
        if (entry.role === 'assistant' && typeof entry.messageId === 'string') replies.set(entry.messageId, view);
      });
      confirmations.forEach(syncChip);
      scrollToBottom(true);
    }

    function clearSettledMessages() {
      Array.prototype.forEach.call(ui.messages.querySelectorAll('.message'), function (row) {
        var status = row.getAttribute('data-status');
        if (status !== 'pending' && status !== 'streaming') row.remove();
      });
      ui.emptyHint.hidden = ui.messages.querySelector('.message') !== null;
    }

    /* --- confirmations of sensitive actions (server: confirmation.request / confirmation.resolved) --- */

    /**
     * Confirmation cards by confirmationId. Each is kept in the transcript with its outcome, so a
     * reload shows a decided question as decided; one still waiting is named in the handshake
     * (auth.confirmations) and the server says how it stands, and asks again any still pending.
     */
    var confirmations = new Map();
    var CONFIRMATION_NOTES = { ok: 'Confirmed', error: 'Confirmed, but it failed', running: 'Confirmed', declined: 'Declined', expired: 'Expired' };

    /** A question with Confirm / Decline: shown live (confirmation.request) or restored from the transcript into `restored`. */
    function addConfirmationCard(entry, restored) {
      var view = restored || addMessage('assistant', 'confirm');
      view.entry = entry;
      view.row.classList.add('confirm');
      view.row.setAttribute('data-testid', 'switchboard-confirmation');
      // The summary is text, never markup: it repeats what the model asked for.
      view.bubble.textContent = entry.text;
      var yes = el('button', { type: 'button', class: 'confirm-yes', 'data-testid': 'switchboard-confirm' });
      yes.textContent = 'Confirm';
      var no = el('button', { type: 'button', class: 'confirm-no', 'data-testid': 'switchboard-decline' });
      no.textContent = 'Decline';
      var actions = el('div', { class: 'confirm-actions' }, [yes, no]);
      view.bubble.after(actions);
      var card = { id: entry.confirmationId, entry: entry, view: view, yes: yes, no: no, actions: actions, outcome: null, busy: false, answeredHere: false, timer: null };
      confirmations.set(card.id, card);
      yes.addEventListener('click', function () { answerConfirmation(card, 'confirm'); });
      no.addEventListener('click', function () { answerConfirmation(card, 'decline'); });
      if (entry.outcome) settleConfirmation(card, entry.outcome, { quiet: true });
      else armExpiry(card);
      return card;
    }

    function armExpiry(card) {
      clearTimeout(card.timer);
      var expiresIn = Date.parse(card.entry.expiresAt) - Date.now();
      if (!(expiresIn > 0)) {
        if (!isNaN(expiresIn)) settleConfirmation(card, 'expired', { quiet: true });
        return;
      }
      card.timer = setTimeout(function () { settleConfirmation(card, 'expired'); }, Math.min(expiresIn, 2147483000));
    }

    function answerConfirmation(card, decision) {
      if (card.outcome || card.busy || !socket) return;
      // Marked busy rather than disabled: a disabled button drops the keyboard focus to the page.
      card.busy = true;
      card.answeredHere = true;
      card.yes.setAttribute('aria-disabled', 'true');
      card.no.setAttribute('aria-disabled', 'true');
      socket.timeout(ACK_TIMEOUT_MS).emit('confirmation.answer', { confirmationId: card.id, decision: decision }, function (timeoutError, ack) {
        card.busy = false;
        card.yes.removeAttribute('aria-disabled');
        card.no.removeAttribute('aria-disabled');
        if (!timeoutError && ack && ack.ok) return settleConfirmation(card, ack.status);
        setNote(card.view, timeoutError ? 'No answer from the server; try again.' : describeError(ack && ack.error), { alert: true });
      });
    }

    /**
     * Shows the outcome in place of the buttons, and on the chip of the reply that asked. `running`
     * (confirmed, still running) may be followed by the final status. Focus that was on the card
     * (the button just pressed) moves to the outcome instead of falling to the page.
     */
    function settleConfirmation(card, status, options) {
      if (typeof status !== 'string' || status === 'pending' || status === card.outcome) return;
      if (card.outcome && card.outcome !== 'running') return;
      var quiet = options && options.quiet;
      var active = ui.shadow.activeElement;
      var moveFocus = !quiet && ((active !== null && card.view.row.contains(active)) || (card.answeredHere && active === null));
      card.outcome = status;
      card.entry.outcome = status;
      clearTimeout(card.timer);
      setStatus(card.view, 'settled');
      setNote(card.view, '');
      setNote(card.view, CONFIRMATION_NOTES[status] || status);
      var outcome = card.view.row.querySelector('.note');
      outcome.setAttribute('data-outcome', status);
      outcome.setAttribute('tabindex', '-1');
      if (moveFocus) outcome.focus();
      card.yes.disabled = true;
      card.no.disabled = true;
      card.actions.hidden = true;
      syncChip(card);
      if (card.view.recorded) saveTranscript();
    }

    function showConfirmation(payload) {
      if (!payload || typeof payload.confirmationId !== 'string' || typeof payload.summary !== 'string') return;
      var known = confirmations.get(payload.confirmationId);
      if (known) {
        // Asked again on reconnect: still waiting, perhaps with a new expiry.
        if (!known.outcome && typeof payload.expiresAt === 'string') {
          known.entry.expiresAt = payload.expiresAt;
          armExpiry(known);
        }
        return;
      }
      var card = addConfirmationCard({
        kind: 'confirmation',
        role: 'assistant',
        author: 'agent',
        status: 'confirm',
        text: payload.summary,
        confirmationId: payload.confirmationId,
        // The visitor's message whose turn asked (its reply shows the tool's chip); not `messageId`,
        // which names replies (newestReplyId).
        askedBy: typeof payload.messageId === 'string' ? payload.messageId : null,
        toolName: typeof payload.toolName === 'string' ? payload.toolName : null,
        expiresAt: payload.expiresAt,
      });
      record(card.view);
      syncChip(card);
      announce(payload.summary);
    }

    function onConfirmationResolved(payload) {
      var card = payload && confirmations.get(payload.confirmationId);
      if (card) settleConfirmation(card, payload.status);
    }

    /** Ids of the cards still waiting for an outcome (the newest), for the handshake. */
    function waitingConfirmationIds() {
      var ids = [];
      confirmations.forEach(function (card) {
        if (!card.outcome || card.outcome === 'running') ids.push(card.id);
      });
      return ids.slice(-MAX_SHOWN_CONFIRMATIONS);
    }

    /* --- tool chips: what a reply's turn used; a held call's chip follows its confirmation --- */

    function renderToolCalls(view, toolCalls) {
      // Handing over to a person is shown by the status strip, not as a tool the visitor needs to read.
      var shown = (Array.isArray(toolCalls) ? toolCalls : [])
        .filter(function (call) { return call && typeof call.name === 'string' && call.name !== 'request_human'; })
        .map(function (call) { return { name: call.name, status: typeof call.status === 'string' ? call.status : 'ok' }; });
      view.entry.toolCalls = shown.length > 0 ? shown : undefined;
      drawChips(view);
    }

    function drawChips(view) {
      var calls = view.entry.toolCalls;
      if (!Array.isArray(calls) || calls.length === 0) return;
      var list = el('div', { class: 'tools', 'aria-label': 'Tools used' });
      view.chips = calls.map(function (call) {
        var chip = { el: el('span', { class: 'tool', 'data-testid': 'switchboard-tool', 'data-tool': call.name }), call: call };
        paintChip(chip);
        list.append(chip.el);
        return chip;
      });
      view.row.append(list);
    }

    function paintChip(chip) {
      chip.el.setAttribute('data-status', chip.call.status);
      chip.el.textContent = chip.call.name + (chip.call.status !== 'ok' ? ' (' + chip.call.status + ')' : '');
    }

    /** The chip of the call a card asks about: on the reply to `askedBy`, the first held chip of that tool no other card claimed. */
    function chipOf(card) {
      var view = card.entry.askedBy ? replies.get(card.entry.askedBy) : null;
      if (!view || !view.chips) return null;
      var claimed = null;
      var free = null;
      view.chips.forEach(function (chip) {
        if (chip.call.confirmationId === card.id) claimed = chip;
        else if (!free && !chip.call.confirmationId && chip.call.status === 'pending' && chip.call.name === card.entry.toolName) free = chip;
      });
      if (!claimed && free) free.call.confirmationId = card.id;
      return claimed || free;
    }

    function syncChip(card) {
      var chip = chipOf(card);
      var status = card.outcome || 'pending';
      if (!chip || chip.call.status === status) return;
      chip.call.status = status;
      paintChip(chip);
      saveTranscript();
    }

    /* --- assistant replies --- */

    function replyView(messageId, afterRow) {
      var view = replies.get(messageId);
      if (!view) {
        view = addMessage('assistant', 'streaming', afterRow);
        showTyping(view);
        replies.set(messageId, view);
      }
      return view;
    }

    /** Routes a reply event to its bubble; holds it while an ack that may claim it is outstanding. */
    function onReplyEvent(kind, payload) {
      if (!payload || typeof payload.messageId !== 'string') return;
      if (!replies.has(payload.messageId) && outbox.size > 0) {
        var held = earlyEvents.get(payload.messageId) || [];
        held.push([kind, payload]);
        earlyEvents.set(payload.messageId, held);
        return;
      }
      applyReplyEvent(replyView(payload.messageId), kind, payload);
    }

    function replayEarlyEvents(messageId) {
      var held = earlyEvents.get(messageId);
      if (!held) return;
      earlyEvents.delete(messageId);
      var view = replies.get(messageId);
      held.forEach(function (event) {
        applyReplyEvent(view, event[0], event[1]);
      });
    }

    /** Once nothing is awaiting an ack, held events belong to replies started elsewhere (another tab). */
    function flushUnclaimedEvents() {
      if (outbox.size > 0) return;
      Array.from(earlyEvents.keys()).forEach(function (messageId) {
        replyView(messageId);
        replayEarlyEvents(messageId);
      });
    }

    function applyReplyEvent(view, kind, payload) {
      // A finished bubble is final: a replayed reply.done (another tab re-sent the message) changes nothing.
      if (view.row.getAttribute('data-status') !== 'streaming') return;
      var follow = isNearBottom(); // measured before the bubble grows
      if (kind === 'delta') {
        if (typeof payload.delta !== 'string') return;
        if (view.text === '') view.bubble.replaceChildren();
        view.text += payload.delta;
        view.bubble.append(document.createTextNode(payload.delta)); // plain text while streaming; links once done
      } else if (kind === 'discard') {
        view.text = '';
        showTyping(view);
        // A person took the conversation over while the assistant was answering: no answer follows.
        if (withPerson()) retireTypingBubbles();
      } else if (kind === 'done') {
        var text = typeof payload.text === 'string' ? payload.text : view.text;
        var author = AUTHORS.indexOf(payload.author) >= 0 && payload.author !== 'user' ? payload.author : 'agent';
        var operatorName = typeof payload.operatorName === 'string' && payload.operatorName.trim() !== '' ? payload.operatorName.trim() : null;
        view.text = text;
        view.entry.text = text;
        // Kept in the transcript: a reload restores this bubble under its id, and the server is told
        // the newest id it holds (auth.after) to send what arrived while the visitor was away.
        view.entry.messageId = payload.messageId;
        setAuthor(view, author, operatorName);
        renderText(view.bubble, text);
        setStatus(view, payload.fallback ? 'fallback' : 'done');
        setNote(view, payload.fallback ? FALLBACK_HINT : '');
        renderToolCalls(view, payload.toolCalls);
        confirmations.forEach(function (card) {
          if (card.entry.askedBy === payload.messageId) syncChip(card);
        });
        record(view);
        if (author === 'operator') announce((operatorName || 'Our team') + ': ' + text);
        else if (author === 'system') announce(text);
        else announce('Assistant: ' + text);
      } else if (kind === 'error') {
        var failure = 'Sorry, no reply could be produced. Please try again.';
        view.text = failure;
        view.entry.text = failure;
        renderText(view.bubble, failure);
        setStatus(view, 'error');
        setNote(view, describeError(payload), { alert: true });
        record(view);
      }
      if (follow) scrollToBottom(true);
    }

    function announce(text) {
      ui.announcer.textContent = '';
      // A fresh text node in a later task makes screen readers announce even a repeated reply.
      setTimeout(function () {
        ui.announcer.textContent = text.length > 600 ? text.slice(0, 600) + '…' : text;
      }, 50);
      if (ui.panel.hidden) {
        ui.launcher.setAttribute('data-unread', 'true');
        ui.launcher.setAttribute('aria-label', 'Open chat (new reply)');
      }
    }

    /* --- handoff to a person (server: handoff) --- */

    var NO_HANDOFF = { status: null, operatorName: null };
    /** Where the conversation stands: with the assistant (null), `waiting` for a person, `active` with one, or just `released`. */
    var handoff = NO_HANDOFF;
    var handoffTimer = null;

    function withPerson() {
      return handoff.status === 'waiting' || handoff.status === 'active';
    }

    function handoffText(state) {
      if (state.status === 'waiting') return "You're waiting for a person from our team. You can keep writing in the meantime.";
      if (state.status === 'active') return (state.operatorName || 'A person') + ' from our team has joined the chat.';
      if (state.status === 'released') return "You're back with the assistant.";
      return '';
    }

    function showHandoff(state) {
      clearTimeout(handoffTimer);
      handoffTimer = null;
      handoff = state;
      var text = handoffText(state);
      var follow = isNearBottom(); // the strip takes height from the log
      // Unchanged text is left alone, so a state re-sent on reconnect is not announced again.
      if (ui.handoffStatus.textContent !== text) ui.handoffStatus.textContent = text;
      ui.handoffStatus.setAttribute('data-state', text ? state.status : 'none');
      if (follow) scrollToBottom(true);
      if (state.status === 'released') {
        handoffTimer = setTimeout(function () {
          showHandoff(NO_HANDOFF);
        }, RELEASED_NOTICE_MS);
      }
    }

    function onHandoff(payload) {
      if (!payload || HANDOFF_STATUSES.indexOf(payload.status) < 0) return;
      var name = payload.status === 'active' && typeof payload.operatorName === 'string' ? payload.operatorName.trim() : '';
      showHandoff({ status: payload.status, operatorName: name || null });
      if (withPerson()) retireTypingBubbles();
    }

    /**
     * Typing dots that have shown nothing yet may wait for a turn the handoff stopped (the message
     * is kept for the person instead). A turn that does finish sends its reply.done, which then
     * opens a bubble of its own.
     */
    function retireTypingBubbles() {
      replies.forEach(function (view, messageId) {
        if (view.row.getAttribute('data-status') !== 'streaming' || view.text !== '') return;
        view.row.remove();
        replies.delete(messageId);
      });
    }

    /** A fresh session re-sends an open handoff: none within the grace period means it ended while we were away. */
    function expectHandoffResent() {
      if (!withPerson()) return;
      clearTimeout(handoffTimer);
      handoffTimer = setTimeout(function () {
        showHandoff(NO_HANDOFF);
      }, HANDOFF_RESEND_GRACE_MS);
    }

    /* --- sending --- */

    function refreshSendButton() {
      ui.sendButton.disabled = outbox.size > 0 || ui.input.value.trim() === '';
    }

    function send(text) {
      var clientMessageId = newClientMessageId();
      var view = addMessage('user', 'pending');
      view.text = text;
      view.entry.text = text;
      renderText(view.bubble, text);
      scrollToBottom(true);
      return new Promise(function (resolve) {
        outbox.set(clientMessageId, { text: text, view: view, resolve: resolve, attempt: 0, epoch: -1, tries: 0, toPerson: withPerson() });
        refreshSendButton();
        if (refusal) settle(clientMessageId, { ok: false, error: refusal });
        else if (socket && socket.connected) transmit(clientMessageId);
      });
    }

    function transmit(clientMessageId) {
      var pending = outbox.get(clientMessageId);
      if (!pending) return;
      var attempt = ++pending.attempt;
      pending.epoch = connectionEpoch;
      pending.tries++;
      socket.timeout(ACK_TIMEOUT_MS).emit('message', { text: pending.text, clientMessageId: clientMessageId }, function (timeoutError, ack) {
        if (outbox.get(clientMessageId) !== pending) return; // already settled by an earlier attempt
        if (timeoutError) {
          if (attempt !== pending.attempt) return; // superseded by a resend after a reconnect
          if (!socket.connected) return; // the next `connect` resends it
          if (pending.tries < MAX_SEND_ATTEMPTS) transmit(clientMessageId);
          else settle(clientMessageId, { ok: false, error: { code: 'not_delivered', message: 'the server did not answer; please try again' } });
          return;
        }
        settle(clientMessageId, ack && typeof ack === 'object' ? ack : { ok: false, error: { code: 'internal_error' } });
      });
    }

    function settle(clientMessageId, ack) {
      var pending = outbox.get(clientMessageId);
      outbox.delete(clientMessageId);
      var view = pending.view;
      var answered = ack.ok === true && ack.confirmation && typeof ack.confirmation.confirmationId === 'string' ? ack.confirmation : null;
      if (answered) {
        // A typed YES / NO answered the newest question: no turn, so no reply to wait for; the
        // outcome arrives as a reply of its own.
        setStatus(view, 'done');
        record(view);
        var card = confirmations.get(answered.confirmationId);
        if (card) settleConfirmation(card, answered.status);
      } else if (ack.ok === true && typeof ack.messageId === 'string') {
        setStatus(view, 'done');
        record(view);
        // With a person (when sent or now) the message is theirs to answer, in their own time: no
        // typing bubble to wait on. Should the assistant answer after all, its reply opens its own bubble.
        if (!(pending.toPerson || withPerson()) || earlyEvents.has(ack.messageId)) replyView(ack.messageId, view.row);
        replayEarlyEvents(ack.messageId);
      } else {
        setStatus(view, 'error');
        setNote(view, describeError(ack.error), { alert: true });
        if (ui.input.value.trim() === '') {
          ui.input.value = pending.text; // let the visitor shorten or retry without retyping
          autosize();
        }
      }
      flushUnclaimedEvents();
      refreshSendButton();
      pending.resolve(answered ? { ok: true, confirmation: answered } : ack.ok === true ? { ok: true, messageId: ack.messageId } : { ok: false, error: ack.error });
    }

    function submitFromComposer() {
      var text = ui.input.value;
      if (text.trim() === '' || outbox.size > 0) return;
      ui.input.value = '';
      autosize();
      void send(text);
      ui.input.focus();
    }

    function autosize() {
      var follow = isNearBottom(); // a growing input shrinks the log: keep its newest line in view
      ui.input.style.height = 'auto';
      ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 132) + 'px';
      if (follow) scrollToBottom(true);
      refreshSendButton();
    }

    /* --- connection --- */

    function setConnection(state, label) {
      ui.panel.setAttribute('data-connection', state);
      ui.statusText.textContent = label;
    }

    function scheduleReconnect() {
      if (reconnectTimer) return;
      var delay = RECONNECT_DELAYS_MS[Math.min(reconnectAttempt, RECONNECT_DELAYS_MS.length - 1)];
      reconnectAttempt++;
      reconnectTimer = setTimeout(function () {
        reconnectTimer = null;
        if (socket && !socket.connected) socket.connect();
      }, delay);
    }

    function connect(io) {
      socket = io(SERVER_ORIGIN, {
        path: '/socket.io',
        // After a server restart every visitor reconnects at once; a 2 s cap on the backoff
        // (socket.io's default is 5 s) brings them back sooner, and the server's listen queue
        // and handshake are sized for that storm (BENCHMARKS.md, reconnect storm).
        reconnectionDelayMax: 2000,
        // WebSocket first: one request per (re)connect instead of long-polling's handshake, CONNECT
        // POST and poll before the upgrade, which is what a reconnect storm multiplies. Where a proxy
        // or network refuses WebSocket, the same attempt falls back to long-polling (tryAllTransports,
        // socket.io-client 4.8), which needs sticky sessions across several web instances (README).
        transports: ['websocket', 'polling'],
        tryAllTransports: true,
        // A function, so every reconnect presents the latest token the server issued.
        auth: function (callback) {
          var auth = OPTIONS.workspaceKey ? { workspaceKey: OPTIONS.workspaceKey } : {};
          var token = storage.get(TOKEN_KEY);
          if (!token) return callback(auth);
          auth.token = token;
          var after = newestReplyId();
          if (after) auth.after = after;
          // Questions still shown as waiting: the server says how each stands (asked again, or decided meanwhile).
          var waiting = waitingConfirmationIds();
          if (waiting.length > 0) auth.confirmations = waiting;
          callback(auth);
        },
      });

      socket.on('connect', function () {
        connectionEpoch++;
        reconnectAttempt = 0;
        // A recovered connection gets the missed events replayed; a fresh one gets the current state.
        if (!socket.recovered) expectHandoffResent();
        setConnection('online', 'Online');
        outbox.forEach(function (pending, clientMessageId) {
          if (pending.epoch !== connectionEpoch) {
            pending.tries = 0;
            transmit(clientMessageId);
          }
        });
      });

      socket.on('session', function (session) {
        if (!session || typeof session.token !== 'string') return;
        storage.set(TOKEN_KEY, session.token);
        conversationId = session.conversationId;
        if (transcript.conversationId !== session.conversationId) {
          // The server started a new conversation: the history shown belonged to another one.
          if (transcript.entries.length > 0) clearSettledMessages();
          confirmations.forEach(function (card) { clearTimeout(card.timer); });
          confirmations.clear();
          showHandoff(NO_HANDOFF);
          transcript = { conversationId: session.conversationId, entries: [] };
          saveTranscript();
        }
      });

      socket.on('disconnect', function (reason) {
        setConnection('offline', 'Reconnecting…');
        // socket.io retries on its own unless the server closed the socket deliberately.
        if (reason === 'io server disconnect') scheduleReconnect();
      });

      socket.on('connect_error', function (error) {
        var code = error && error.data && error.data.code;
        if (SETUP_REFUSALS.indexOf(code) !== -1) {
          refusal = { code: code, message: 'please reach us another way' };
          console.error('[switchboard] the server refused this widget (' + code + '): check data-workspace-key and the workspace\'s allowed origins');
          setConnection('offline', 'Chat unavailable');
          outbox.forEach(function (_pending, clientMessageId) {
            settle(clientMessageId, { ok: false, error: refusal });
          });
          return;
        }
        setConnection('offline', 'Offline, retrying…');
        // A refusal by the server's middleware is not retried by socket.io itself.
        if (!socket.active) scheduleReconnect();
      });

      socket.on('reply.delta', function (payload) {
        onReplyEvent('delta', payload);
      });
      socket.on('reply.discard', function (payload) {
        onReplyEvent('discard', payload);
      });
      socket.on('reply.done', function (payload) {
        onReplyEvent('done', payload);
      });
      socket.on('reply.error', function (payload) {
        onReplyEvent('error', payload);
      });
      socket.on('confirmation.request', showConfirmation);
      socket.on('confirmation.resolved', onConfirmationResolved);
      socket.on('handoff', onHandoff);
    }

    function loadSocketIo() {
      if (typeof window.io === 'function') return Promise.resolve(window.io);
      return new Promise(function (resolve, reject) {
        var tag = document.createElement('script');
        tag.src = SERVER_ORIGIN + '/socket.io/socket.io.min.js';
        tag.async = true;
        tag.onload = function () {
          if (typeof window.io === 'function') resolve(window.io);
          else reject(new Error('socket.io client did not define window.io'));
        };
        tag.onerror = function () {
          reject(new Error('could not load ' + tag.src));
        };
        document.head.append(tag);
      });
    }

    /* --- open / close --- */

    function open(options) {
      var wasHidden = ui.panel.hidden;
      ui.panel.hidden = false;
      ui.launcher.setAttribute('aria-expanded', 'true');
      // Named apart from the header's "Close chat": two buttons with one name cannot be told apart.
      ui.launcher.setAttribute('aria-label', 'Hide chat');
      ui.launcher.replaceChildren(icon(ICON_HIDE));
      ui.launcher.removeAttribute('data-unread');
      if (wasHidden) scrollToBottom(true);
      if (!options || options.focus !== false) ui.input.focus();
    }

    function close() {
      var hadFocus = ui.shadow.activeElement !== null;
      ui.panel.hidden = true;
      ui.launcher.setAttribute('aria-expanded', 'false');
      ui.launcher.setAttribute('aria-label', 'Open chat');
      ui.launcher.replaceChildren(icon(ICON_CHAT));
      if (hadFocus) ui.launcher.focus();
    }

    ui.launcher.addEventListener('click', function () {
      if (ui.panel.hidden) open();
      else close();
    });
    ui.closeButton.addEventListener('click', close);
    ui.panel.addEventListener('keydown', function (event) {
      if (event.key === 'Escape') {
        event.preventDefault();
        close();
      }
    });
    ui.composer.addEventListener('submit', function (event) {
      event.preventDefault();
      submitFromComposer();
    });
    ui.input.addEventListener('keydown', function (event) {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        submitFromComposer();
      }
    });
    ui.input.addEventListener('input', autosize);

    restoreTranscript();
    if (OPTIONS.startOpen && window.matchMedia(OPEN_ON_LOAD_MEDIA).matches) open({ focus: false });

    window.Switchboard = Object.freeze({
      open: function () {
        open();
      },
      close: close,
      /** Sends `text` as the visitor; resolves to the server's ack ({ ok, messageId } or { ok: false, error }). */
      send: function (text) {
        if (typeof text !== 'string' || text.trim() === '') {
          return Promise.resolve({ ok: false, error: { code: 'empty_message', message: 'message text is empty' } });
        }
        open({ focus: false });
        return send(text);
      },
      get conversationId() {
        return conversationId;
      },
    });

    loadSocketIo().then(connect, function (error) {
      console.error('[switchboard] chat unavailable:', error.message);
      setConnection('offline', 'Chat unavailable');
    });
  }

  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start, { once: true });
})();
