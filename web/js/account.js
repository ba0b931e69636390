// Signing in and out, an investor's sign-up and e-mail verification, and the caller's profile.

import { login as apiLogin, post, get, patch, currentUser, reloadMe } from './api.js';
import { h, clear, field, form, facts, section, go } from './ui.js';
import { ROLE } from './labels.js';
import { dateTime } from './format.js';

export const HOME = {
  investor: '/app/investor', collective: '/app/collective', staff: '/app/staff',
  insurer: '/app/insurer', admin: '/app/admin',
};

/** Only console paths are followed after sign-in (never another site). */
function safeNext(next) {
  return typeof next === 'string' && /^\/(app(\/|$)|$|\?)/.test(next) && !next.startsWith('//') ? next : null;
}

export async function login(main, _p, query) {
  clear(main, h('h1', {}, '登录'), form({
    label: '登录', submit: '登录',
    fields: [
      field({ name: 'email', label: '电子邮箱', type: 'email', required: true, autocomplete: 'username' }),
      field({ name: 'password', label: '密码', type: 'password', required: true, autocomplete: 'current-password' }),
    ],
    onSubmit: async (v) => {
      const user = await apiLogin(v.email, v.password);
      go(safeNext(query.next) || HOME[user.role] || '/');
    },
  }), h('p', {}, '还没有账号？', h('a', { href: '/app/signup' }, '经营主体注册')));
}

export async function signup(main) {
  clear(main, h('h1', {}, '经营主体注册'), h('p', { class: 'hint' }, '注册后请查收验证邮件，验证邮箱后方可报名竞买。'), form({
    label: '注册', submit: '注册',
    fields: [
      field({ name: 'display_name', label: '名称（个人姓名或单位名称）', required: true, maxlength: 100 }),
      field({ name: 'email', label: '电子邮箱', type: 'email', required: true, autocomplete: 'email' }),
      field({ name: 'phone', label: '手机号（选填）', type: 'tel', autocomplete: 'tel' }),
      field({ name: 'password', label: '密码（10–128 位）', type: 'password', required: true, autocomplete: 'new-password' }),
    ],
    rules: { password: '密码须为 10–128 位，且不能与邮箱相同', email: '请填写有效的电子邮箱', display_name: '请填写名称' },
    onSubmit: async (v) => {
      const body = { email: v.email, password: v.password, display_name: v.display_name };
      if (v.phone) body.phone = v.phone;
      await post('/auth/register', body);
      await apiLogin(v.email, v.password);
      go('/app/verify');
    },
  }));
}

export async function verify(main) {
  const user = currentUser();
  clear(main, h('h1', {}, '验证电子邮箱'),
    h('p', {}, user ? `验证邮件已发送至 ${user.email}。` : '', '请打开邮件中的链接，或将邮件中的验证码粘贴到下面。'),
    form({
      label: '验证电子邮箱', submit: '验证',
      fields: [field({ name: 'token', label: '验证码', required: true, autocomplete: 'one-time-code' })],
      rules: { token: '验证码无效、已过期或已使用' },
      onSubmit: async (v) => {
        await post('/auth/verify-email', { token: v.token });
        if (currentUser()) await reloadMe();
        clear(main, h('h1', {}, '邮箱已验证'), h('p', { role: 'status' }, '现在可以报名竞买了。'),
          h('a', { class: 'btn primary', href: '/' }, '浏览挂牌项目'));
      },
    }));
}

export async function me(main) {
  const u = await get('/me');
  const parts = [h('h1', {}, '我的账号'), section('账号信息', facts([
    ['名称', u.display_name], ['邮箱', u.email], ['角色', ROLE[u.role]],
    ['邮箱验证', u.email_verified ? '已验证' : '未验证'], ['注册时间', dateTime(u.created_at)],
  ]))];
  if (!u.email_verified) parts.push(h('a', { class: 'btn', href: '/app/verify' }, '验证邮箱'));
  if (u.role === 'collective' && u.village_id) parts.push(await villageIdentity(u.village_id));
  clear(main, ...parts);
}

/** The collective's legal identity (甲方), needed before it can sign a contract. */
async function villageIdentity(villageId) {
  const v = await get(`/villages/${villageId}`);
  return section(`${v.name}：合同甲方信息`, form({
    label: '甲方信息', submit: '保存',
    fields: [
      field({ name: 'legal_name', label: '集体经济组织名称', value: v.legal_name, required: true }),
      field({ name: 'unified_social_credit_code', label: '统一社会信用代码', value: v.unified_social_credit_code, required: true }),
      field({ name: 'legal_representative', label: '法定代表人', value: v.legal_representative, required: true }),
    ],
    rules: { unified_social_credit_code: '统一社会信用代码须为18位且校验码正确' },
    onSubmit: async (body) => {
      await patch(`/villages/${villageId}`, body);
      go('/app/me', { replace: true });
    },
  }));
}
