// Small DOM helpers: an element builder, labelled form fields whose errors sit beside them,
// tables, a status line, and the rendering of a refusal.

import { Problem } from './api.js';
import { problemText } from './labels.js';

let uid = 0;

/** h('a', {href: '/x', class: 'btn', onclick: fn}, 'text', child, [more]) */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = Boolean(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * A labelled control. `spec`: {name, label, type, value, required, options: [[value, text]],
 * hint, step, min, max, placeholder, inputmode, autocomplete}. Its error slot is filled by
 * showProblem() when the API names `name` (or one of `spec.fields`).
 */
export function field(spec) {
  const id = `f-${spec.name.replace(/[^a-z0-9_-]/gi, '-')}-${++uid}`;
  const errId = `${id}-err`;
  const hintId = spec.hint ? `${id}-hint` : null;
  const described = [hintId, errId].filter(Boolean).join(' ');
  let control;
  const common = {
    id, name: spec.name, required: spec.required, 'aria-describedby': described,
    autocomplete: spec.autocomplete, placeholder: spec.placeholder,
  };
  if (spec.type === 'select') {
    control = h('select', common, (spec.options || []).map(([v, t]) =>
      h('option', { value: v, selected: String(spec.value ?? '') === String(v) }, t)));
  } else if (spec.type === 'textarea') {
    control = h('textarea', { ...common, rows: spec.rows || 3, maxlength: spec.maxlength }, spec.value ?? '');
  } else if (spec.type === 'checkbox') {
    control = h('input', { ...common, type: 'checkbox', checked: spec.value });
  } else {
    control = h('input', {
      ...common, type: spec.type || 'text', value: spec.value ?? '', step: spec.step,
      min: spec.min, max: spec.max, inputmode: spec.inputmode, maxlength: spec.maxlength,
    });
  }
  const label = h('label', { for: id }, spec.label, spec.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null);
  const names = [spec.name, ...(spec.fields || [])].join(' ');
  const wrap = h('div', { class: `field${spec.type === 'checkbox' ? ' check' : ''}`, 'data-field': names },
    spec.type === 'checkbox' ? [control, label] : [label, control],
    hintId ? h('p', { class: 'hint', id: hintId }, spec.hint) : null,
    h('p', { class: 'field-error', id: errId, role: 'alert' }));
  return wrap;
}

/** The values of a form's named controls: strings, booleans for checkboxes. */
export function values(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    out[el.name] = el.type === 'checkbox' ? el.checked : el.value.trim();
  }
  return out;
}

/**
 * A form: `onSubmit(values, form)` may throw a Problem (or an Error for a client-side
 * check); its field errors go beside their fields, the rest above the button.
 */
export function form({ fields, submit, onSubmit, className, rules, label, more = [] }) {
  const msg = h('div', { class: 'form-error', role: 'alert', 'aria-live': 'assertive' });
  const button = h('button', { type: 'submit', class: 'btn primary', value: 'main' }, submit || '提交');
  const others = more.map(([value, text]) => h('button', { type: 'submit', class: 'btn', value }, text));
  const f = h('form', { class: className || 'form', novalidate: true, 'aria-label': label }, fields, msg, h('div', { class: 'actions' }, button, others));
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(f);
    button.disabled = true;
    try {
      await onSubmit(values(f), f, ev.submitter?.value || 'main');
    } catch (e) {
      showProblem(f, e, rules);
    } finally {
      button.disabled = false;
    }
  });
  return f;
}

export function clearErrors(root) {
  for (const e of root.querySelectorAll('.field-error, .form-error')) e.textContent = '';
  for (const e of root.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
}

/** A client-side field error, shown like the API's. */
export function fieldError(field, message) {
  const p = new Problem(422, { code: 'validation_failed', errors: [{ field, message }] });
  p.local = true;
  return p;
}

/**
 * Shows a refusal inside `root`: each `errors[].field` beside the control that declares it
 * (the Chinese rule from `rules[field]` when there is one), everything else in the form's
 * message area (or `root` itself).
 */
export function showProblem(root, e, rules = {}) {
  const general = root.querySelector('.form-error') || root;
  if (!(e instanceof Problem)) {
    general.textContent = e?.message || String(e);
    return;
  }
  const leftover = [];
  for (const err of e.errors) {
    const slot = findField(root, err.field);
    const text = rules[err.field] || (e.local ? err.message : null);
    if (slot) {
      const out = slot.querySelector('.field-error');
      out.replaceChildren(text || '此项不符合要求',
        e.local ? '' : h('span', { class: 'detail', lang: 'en' }, ` (${err.message})`));
      const control = slot.querySelector('input, select, textarea');
      if (control) control.setAttribute('aria-invalid', 'true');
    } else {
      leftover.push(`${rules[err.field] || err.field}: ${err.message}`);
    }
  }
  general.replaceChildren(h('strong', { 'data-code': e.code }, problemText(e)));
  if (leftover.length) general.append(h('ul', {}, leftover.map((l) => h('li', {}, l))));
  const first = root.querySelector('[aria-invalid="true"]');
  if (first) first.focus();
}

function findField(root, name) {
  for (const el of root.querySelectorAll('[data-field]')) {
    if (el.dataset.field.split(' ').includes(name)) return el;
  }
  return null;
}

/** A button running an action; a refusal shows in `out` (or next to the button). */
export function action(text, run, { className = 'btn', out, label } = {}) {
  const b = h('button', { type: 'button', class: className, 'aria-label': label });
  b.textContent = text;
  b.addEventListener('click', async () => {
    b.disabled = true;
    const target = out || b.parentElement;
    const slot = target?.querySelector(':scope > .form-error');
    if (slot) slot.textContent = '';
    try {
      await run();
    } catch (e) {
      let area = target?.querySelector(':scope > .form-error');
      if (!area && target) {
        area = h('div', { class: 'form-error', role: 'alert' });
        target.append(area);
      }
      if (area) showProblem(area, e);
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

/** A table: columns [[header, row => cell]], rows. */
export function table(columns, rows, { caption, empty = '暂无记录' } = {}) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption || '列表' },
    h('table', {},
      caption ? h('caption', {}, caption) : null,
      h('thead', {}, h('tr', {}, columns.map(([t]) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, columns.map(([t, f]) => h('td', { 'data-label': t }, f(r))))))));
}

/** A paged list: renders each page with `render(items)` and offers 加载更多. */
export async function paged(container, load, render) {
  let pageData = await load();
  const more = h('div', { class: 'more' });
  const draw = () => {
    container.append(render(pageData.items));
    more.replaceChildren();
    if (pageData.next) {
      more.append(action('加载更多', async () => {
        pageData = await pageData.next();
        draw();
      }));
    }
  };
  container.append(more);
  draw();
  container.append(more);
}

/** A definition list of [term, value] pairs. */
export function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export function section(title, ...children) {
  return h('section', { class: 'card' }, h('h2', {}, title), children);
}

/** The polite status line at the top of the page. */
export function notice(text) {
  const n = document.getElementById('notice');
  if (n) n.textContent = text;
}

export function badge(text, kind = '') {
  return h('span', { class: `badge ${kind}` }, text);
}

/** Shows the console screen at `path` (the shell listens for `landx:navigate`). */
export function go(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  window.dispatchEvent(new Event('landx:navigate'));
}

const leaving = [];
/** Runs `fn` when the shell leaves the current screen (closing feeds, timers). */
export function onLeave(fn) {
  leaving.push(fn);
}
export function leave() {
  while (leaving.length) {
    try { leaving.pop()(); } catch { /* a cleanup never stops the next screen */ }
  }
}
