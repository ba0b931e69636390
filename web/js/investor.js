// The investor (经营主体): register for a listing, and its own registrations, deals and
// contracts at a glance. Bidding is in live.js, the contract in contract.js.

import { get, page, post, currentUser } from './api.js';
import { h, clear, field, form, table, paged, section, go } from './ui.js';
import { perMu, dateTime, yuan } from './format.js';
import { status, ID_TYPE } from './labels.js';

/** `/app/listings/{id}/register` */
export async function register(main, [id]) {
  const l = await get(`/listings/${id}`);
  const user = currentUser();
  const parts = [h('h1', {}, `报名：${l.title}`),
    h('p', {}, `保证金 ${yuan(l.deposit_fen)}，报名截止 ${dateTime(l.registration_closes_at)}。提交后由镇交易中心审查资格并确认保证金到账。`)];
  if (!user.email_verified) {
    parts.push(h('p', { class: 'warn', role: 'alert' }, '您的邮箱尚未验证，验证后才能报名。', h('a', { href: '/app/verify' }, '去验证')));
  }
  parts.push(form({
    label: '竞买报名', submit: '提交报名',
    fields: [
      field({ name: 'legal_name', label: '竞买人名称（个人姓名或单位全称）', required: true, maxlength: 200 }),
      field({ name: 'id_type', label: '证件类型', type: 'select', options: Object.entries(ID_TYPE), required: true }),
      field({ name: 'id_number', label: '证件号码', required: true, autocomplete: 'off', maxlength: 18 }),
      field({ name: 'phone', label: '联系电话', type: 'tel', required: true, autocomplete: 'tel' }),
      field({ name: 'experience', label: '农业经营经历', type: 'textarea', required: true, maxlength: 2000 }),
      field({ name: 'business_plan', label: '经营方案概要', type: 'textarea', required: true, maxlength: 2000 }),
      field({ name: 'claims_membership', label: '本人为该村集体经济组织成员（可申请优先权）', type: 'checkbox' }),
    ],
    rules: {
      id_number: '证件号码无效：身份证为17位数字加校验位，统一社会信用代码为18位且校验位正确',
      phone: '请填写有效的电话号码', legal_name: '请填写竞买人名称',
    },
    onSubmit: async (v) => {
      await post(`/listings/${id}/registrations`, v);
      go(`/app/listings/${id}`);
    },
  }));
  clear(main, ...parts);
}

/** `/app/investor`: my registrations (with each listing's state) and my contracts. */
export async function home(main) {
  const regs = h('div');
  const contracts = h('div');
  const user = currentUser();
  clear(main, h('h1', {}, '我的竞买'),
    user.email_verified ? null : h('p', { class: 'warn' }, '邮箱未验证：', h('a', { href: '/app/verify' }, '验证邮箱'), '后才能报名。'),
    section('我的报名', regs), section('我的合同', contracts));
  const titles = new Map();
  await paged(regs, () => page('/me/registrations', { limit: 50 }), (items) => {
    const t = table([
      ['挂牌项目', (r) => h('a', { href: `/app/listings/${r.listing_id}` }, h('span', { 'data-listing': r.listing_id }, titles.get(r.listing_id) || '查看'))],
      ['竞买人', (r) => r.legal_name],
      ['资格', (r) => status(r.status)],
      ['保证金', (r) => status(r.deposit_status)],
      ['报名时间', (r) => dateTime(r.created_at)],
    ], items, { caption: '报名记录', empty: '还没有报名。去首页看看挂牌项目吧。' });
    for (const r of items) {
      get(`/listings/${r.listing_id}`).then((l) => {
        for (const el of t.querySelectorAll(`[data-listing="${r.listing_id}"]`)) el.textContent = `${l.title}（${status(l.status)}）`;
      }).catch(() => {});
    }
    return t;
  });
  await paged(contracts, () => page('/contracts', { limit: 50 }), contractTable);
}

export function contractTable(items) {
  return table([
    ['合同', (c) => h('a', { href: `/app/contracts/${c.id}` }, c.certification_no || '（待鉴证）')],
    ['受让方', (c) => c.transferee.legal_name],
    ['甲方', (c) => c.transferor?.name || '—'],
    ['状态', (c) => status(c.status)],
    ['价格', (c) => perMu(c.price_fen)],
    ['年租金', (c) => yuan(c.annual_rent_fen)],
  ], items, { caption: '合同', empty: '暂无合同' });
}
