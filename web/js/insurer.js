// The insurer (保险公司): quotes to issue, its policies, claims to review, approve or reject,
// pay, recover and write off. The policy and claim lists serve every role that may read them.

import { get, page, post, currentUser } from './api.js';
import { h, clear, field, form, table, paged, section, facts, action, go, fieldError } from './ui.js';
import { yuan, date, dateTime, parseYuan, shanghaiDate } from './format.js';
import { status } from './labels.js';

function policyTable(items, { issue = false, reload } = {}) {
  return table([
    ['合同', (p) => h('a', { href: `/app/contracts/${p.contract_id}` }, '查看合同')],
    ['年度', (p) => `第${p.year}年`],
    ['保险期间', (p) => `${date(p.period_start)}–${date(p.period_end)}`],
    ['保额', (p) => yuan(p.sum_insured_fen)], ['保费', (p) => yuan(p.premium_fen)],
    ['补贴', (p) => yuan(p.subsidy_fen)], ['自付', (p) => yuan(p.holder_premium_fen)],
    ['保单号', (p) => p.policy_no || '—'],
    ['状态', (p) => h('span', { class: `badge ${p.status}` }, status(p.status))],
    issue ? ['出单', (p) => form({
      label: `出单：第${p.year}年`, className: 'form inline', submit: '出单',
      fields: [field({ name: 'policy_no', label: '保单号', required: true, maxlength: 64 })],
      rules: { policy_no: '保单号为1–64个字符，本公司内唯一' },
      onSubmit: async (v) => { await post(`/policies/${p.id}/issue`, v); reload(); },
    })] : null,
  ].filter(Boolean), items, { caption: '保单', empty: issue ? '没有待出单的报价' : '暂无保单' });
}

/** `/app/insurer`: quotes waiting to be issued. */
export async function quotes(main) {
  const box = h('div');
  const claimsBox = h('div');
  clear(main, h('h1', {}, '待出单报价'), box, section('待处理理赔', claimsBox));
  const reload = () => go('/app/insurer', { replace: true });
  await paged(box, () => page('/policies', { status: 'quoted', limit: 50 }), (items) => policyTable(items, { issue: true, reload }));
  await paged(claimsBox, () => page('/claims', { status: 'filed', limit: 50 }), claimTable);
}

/** `/app/policies` */
export async function policies(main, _p, query) {
  const box = h('div');
  const f = form({
    label: '保单筛选', className: 'form filters', submit: '筛选',
    fields: [field({ name: 'status', label: '状态', type: 'select', value: query.status || '',
      options: [['', '全部'], ...['quoted', 'issued', 'active', 'expired', 'claimed', 'cancelled'].map((s) => [s, status(s)])] })],
    onSubmit: async (v) => go(`/app/policies?status=${v.status}`),
  });
  clear(main, h('h1', {}, '履约保证保险保单'), f, box);
  await paged(box, () => page('/policies', { status: query.status, limit: 50 }), (items) => policyTable(items));
}

function claimTable(items) {
  return table([
    ['理赔编号', (c) => h('a', { href: `/app/claims/${c.id}` }, c.claim_no)],
    ['索赔', (c) => yuan(c.claimed_fen)], ['核定', (c) => yuan(c.approved_fen)],
    ['已赔付', (c) => yuan(c.paid_fen)], ['已追偿', (c) => yuan(c.recovered_fen)],
    ['状态', (c) => h('span', { class: `badge ${c.status}` }, status(c.status))],
    ['报案时间', (c) => dateTime(c.created_at)],
  ], items, { caption: '理赔', empty: '暂无理赔' });
}

/** `/app/claims` */
export async function claims(main, _p, query) {
  const box = h('div');
  const f = form({
    label: '理赔筛选', className: 'form filters', submit: '筛选',
    fields: [field({ name: 'status', label: '状态', type: 'select', value: query.status || '',
      options: [['', '全部'], ...['filed', 'under_review', 'approved', 'rejected', 'paid', 'recovery_open', 'recovered', 'written_off'].map((s) => [s, status(s)])] })],
    onSubmit: async (v) => go(`/app/claims?status=${v.status}`),
  });
  clear(main, h('h1', {}, '理赔与追偿'), f, box);
  await paged(box, () => page('/claims', { status: query.status, limit: 50 }), claimTable);
}

/** `/app/claims/{id}`: the claim, and the insurer's decisions on it. */
export async function claim(main, [id]) {
  const user = currentUser();
  const c = await get(`/claims/${id}`);
  const reload = () => go(`/app/claims/${id}`, { replace: true });
  const acts = h('div', { class: 'actions-row' });
  const forms = h('div');
  if (user.role === 'insurer') {
    if (c.status === 'filed') acts.append(action('开始审核', async () => { await post(`/claims/${id}/review`); reload(); }));
    if (['filed', 'under_review'].includes(c.status)) {
      forms.append(section('核定赔付', form({
        label: '核定赔付', submit: '核定',
        fields: [field({ name: 'approved_fen', label: `核定金额（元，默认索赔金额 ${yuan(c.claimed_fen)}）`, inputmode: 'decimal' })],
        rules: { approved_fen: '核定金额须至少 0.01 元且不超过索赔金额' },
        onSubmit: async (v) => {
          let amount;
          try { amount = parseYuan(v.approved_fen); } catch (e) { throw fieldError('approved_fen', e.message); }
          await post(`/claims/${id}/approve`, amount === null ? {} : { approved_fen: amount });
          reload();
        },
      })), section('拒赔', form({
        label: '拒赔', submit: '拒赔',
        fields: [field({ name: 'reason', label: '拒赔原因', type: 'textarea', required: true })],
        onSubmit: async (v) => { await post(`/claims/${id}/reject`, v); reload(); },
      })));
    }
    if (c.status === 'approved') {
      forms.append(section('赔付', form({
        label: '赔付', submit: '确认赔付',
        fields: [field({ name: 'payment_ref', label: '付款流水号', required: true })],
        onSubmit: async (v) => { await post(`/claims/${id}/pay`, v); reload(); },
      })));
    }
    if (['paid', 'recovery_open'].includes(c.status)) {
      forms.append(section('登记追偿', form({
        label: '登记追偿', submit: '登记追偿',
        fields: [
          field({ name: 'amount_fen', label: `追偿金额（元，尚未追回 ${yuan(c.paid_fen - c.recovered_fen)}）`, inputmode: 'decimal', required: true }),
          field({ name: 'received_on', label: '到账日期', type: 'date', value: shanghaiDate(), required: true }),
          field({ name: 'ref', label: '凭证号', required: true }),
        ],
        rules: { amount_fen: '追偿金额不能超过尚未追回的赔付金额' },
        onSubmit: async (v) => {
          let amount;
          try { amount = parseYuan(v.amount_fen); } catch (e) { throw fieldError('amount_fen', e.message); }
          await post(`/claims/${id}/recoveries`, { amount_fen: amount, received_on: v.received_on, ref: v.ref });
          reload();
        },
      })), section('核销', form({
        label: '核销', submit: '核销',
        fields: [field({ name: 'reason', label: '核销原因', type: 'textarea', required: true })],
        onSubmit: async (v) => { await post(`/claims/${id}/write-off`, v); reload(); },
      })));
    }
  }
  clear(main, h('h1', {}, `理赔 ${c.claim_no}`), acts,
    section('理赔信息', facts([
      ['状态', status(c.status)], ['合同', h('a', { href: `/app/contracts/${c.contract_id}` }, '查看合同')],
      ['索赔金额', yuan(c.claimed_fen)], ['核定金额', yuan(c.approved_fen)], ['已赔付', yuan(c.paid_fen)],
      ['已追偿', yuan(c.recovered_fen)], ['报案说明', c.note], c.decided_reason ? ['处理意见', c.decided_reason] : null,
      ['报案时间', dateTime(c.created_at)], ['更新时间', dateTime(c.updated_at)],
    ])), forms);
}
