// The console's shell: the router (paths under /app/, reloadable because the server answers
// index.html for them), the navigation of each role, and the sign-in guard.

import { currentUser, onSession, logout } from './api.js';
import { h, clear, notice, go, leave } from './ui.js';
import { ROLE } from './labels.js';
import * as pub from './public.js';
import * as account from './account.js';
import * as investor from './investor.js';
import * as contract from './contract.js';
import * as collective from './collective.js';
import * as staff from './staff.js';
import * as insurer from './insurer.js';
import * as admin from './admin.js';

const ID = '([0-9a-f-]{36})';

// [path pattern, screen, roles allowed (null: anyone)]
const ROUTES = [
  ['/', pub.search, null],
  ['/app', pub.search, null],
  [`/app/listings/${ID}`, pub.listing, null],
  ['/app/open-data', pub.openData, null],
  ['/app/login', account.login, null],
  ['/app/signup', account.signup, null],
  ['/app/verify', account.verify, null],
  ['/app/me', account.me, 'any'],
  [`/app/listings/${ID}/register`, investor.register, ['investor']],
  ['/app/investor', investor.home, ['investor']],
  ['/app/contracts', contract.list, ['collective', 'investor', 'staff', 'insurer', 'admin']],
  [`/app/contracts/${ID}`, contract.view, ['collective', 'investor', 'staff', 'insurer', 'admin']],
  ['/app/installments', contract.installments, ['collective', 'investor', 'staff', 'insurer', 'admin']],
  ['/app/collective', collective.home, ['collective']],
  ['/app/parcels/new', collective.parcelForm, ['collective']],
  [`/app/parcels/${ID}`, collective.parcelForm, ['collective', 'staff', 'admin']],
  ['/app/listings/new', collective.listingForm, ['collective']],
  [`/app/listings/${ID}/edit`, collective.listingForm, ['collective']],
  ['/app/staff', staff.queue, ['staff', 'admin']],
  [`/app/listings/${ID}/registrations`, staff.registrations, ['staff', 'admin', 'collective']],
  ['/app/signals', staff.signals, ['staff', 'admin']],
  ['/app/audit/(.+)', staff.audit, ['staff', 'admin']],
  ['/app/insurer', insurer.quotes, ['insurer']],
  ['/app/policies', insurer.policies, ['collective', 'investor', 'staff', 'insurer', 'admin']],
  ['/app/claims', insurer.claims, ['collective', 'investor', 'staff', 'insurer', 'admin']],
  [`/app/claims/${ID}`, insurer.claim, ['collective', 'investor', 'staff', 'insurer', 'admin']],
  ['/app/admin', admin.orgs, ['admin']],
  ['/app/admin/users', admin.users, ['admin']],
].map(([p, screen, roles]) => [new RegExp(`^${p}/?$`), screen, roles]);

const NAV = {
  anonymous: [['/', '挂牌项目'], ['/app/open-data', '成交公开'], ['/app/login', '登录'], ['/app/signup', '注册']],
  investor: [['/', '挂牌项目'], ['/app/investor', '我的竞买'], ['/app/contracts', '合同'], ['/app/installments', '租金'], ['/app/policies', '保险']],
  collective: [['/app/collective', '地块与挂牌'], ['/', '挂牌项目'], ['/app/contracts', '合同'], ['/app/installments', '租金'], ['/app/claims', '理赔']],
  staff: [['/app/staff', '审核'], ['/', '挂牌项目'], ['/app/contracts', '合同鉴证'], ['/app/installments', '逾期违约'], ['/app/signals', '围标串标'], ['/app/claims', '理赔']],
  insurer: [['/app/insurer', '待出单'], ['/app/policies', '保单'], ['/app/claims', '理赔追偿']],
  admin: [['/app/admin', '乡镇与村'], ['/app/admin/users', '用户'], ['/app/staff', '审核'], ['/app/contracts', '合同'], ['/app/audit/system', '审计']],
};

function drawNav() {
  const user = currentUser();
  const nav = document.getElementById('nav');
  const here = location.pathname;
  const links = (NAV[user ? user.role : 'anonymous'] || []).map(([href, text]) =>
    h('a', { href, 'aria-current': href === here ? 'page' : null }, text));
  clear(nav, h('div', { class: 'links' }, links),
    user ? h('div', { class: 'who' },
      h('a', { href: '/app/me', class: 'me' }, `${user.display_name}（${ROLE[user.role] || user.role}）`),
      h('button', { type: 'button', class: 'btn small', onclick: async () => { await logout(); go('/'); } }, '退出')) : null);
}

async function render() {
  const main = document.getElementById('main');
  const path = location.pathname;
  const query = Object.fromEntries(new URLSearchParams(location.search));
  leave();
  drawNav();
  notice('');
  for (const [re, screen, roles] of ROUTES) {
    const m = re.exec(path);
    if (!m) continue;
    const user = currentUser();
    if (roles && !user) {
      go(`/app/login?next=${encodeURIComponent(path + location.search)}`, { replace: true });
      return;
    }
    if (Array.isArray(roles) && !roles.includes(user.role)) {
      clear(main, h('h1', {}, '无权访问'), h('p', {}, '此页面不适用于您的角色。'));
      return;
    }
    clear(main, h('p', { class: 'loading' }, '正在加载…'));
    try {
      await screen(main, m.slice(1), query);
    } catch (e) {
      clear(main, h('h1', {}, '出错了'), h('p', { class: 'form-error', role: 'alert' }, e.message));
    }
    const heading = main.querySelector('h1');
    if (heading) document.title = `${heading.textContent} · landx`;
    return;
  }
  clear(main, h('h1', {}, '页面不存在'), h('p', {}, h('a', { href: '/' }, '返回首页')));
}

// Links inside the console change the screen without reloading (a reload would lose the
// in-memory session); others (the API docs) leave.
document.addEventListener('click', (ev) => {
  const a = ev.target.closest('a[href]');
  if (!a || a.target || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  if (url.pathname !== '/' && !url.pathname.startsWith('/app')) return;
  ev.preventDefault();
  go(url.pathname + url.search);
  document.getElementById('main').focus();
});
window.addEventListener('popstate', render);
window.addEventListener('landx:navigate', render);
onSession(drawNav);
render();
