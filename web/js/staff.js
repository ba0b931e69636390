// Township staff (镇交易中心): the review queue, qualification and deposits of a listing's
// registrations, collusion signals and the audit trail. Certifying is on the contract screen,
// the overdue and default overview is the rent screen with its default filter.

import { get, page, post, currentUser } from './api.js';
import { h, clear, field, form, table, paged, section, action, go, showProblem } from './ui.js';
import { yuan, mu, perMu, dateTime } from './format.js';
import { status, ID_TYPE, SIGNAL, SEVERITY, ROLE } from './labels.js';
import { reasonAction } from './public.js';

/** `/app/staff`: listings waiting for review, and what else needs the township. */
export async function queue(main) {
  const waiting = h('div');
  const announced = h('div');
  clear(main, h('h1', {}, '挂牌审核'),
    h('div', { class: 'actions-row' },
      h('a', { class: 'btn', href: '/app/contracts?status=signed' }, '待鉴证合同'),
      h('a', { class: 'btn', href: '/app/installments?status=overdue,defaulted' }, '逾期与违约'),
      h('a', { class: 'btn', href: '/app/signals' }, '围标串标提示')),
    section('待审核', waiting), section('挂牌中（报名审查与保证金）', announced));
  const reviewTable = (items) => table([
    ['标题', (l) => h('a', { href: `/app/listings/${l.id}` }, l.title)],
    ['编号', (l) => l.listing_no || '—'], ['面积', (l) => mu(l.total_area_mu)],
    ['底价', (l) => perMu(l.reserve_price_fen)], ['报名截止', (l) => dateTime(l.registration_closes_at)],
    ['提交时间', (l) => dateTime(l.submitted_at)],
  ], items, { caption: '待审核挂牌', empty: '没有待审核的挂牌' });
  await paged(waiting, () => page('/listings', { mine: true, status: 'submitted', limit: 50 }), reviewTable);
  await paged(announced, () => page('/listings', { mine: true, status: 'announced', limit: 50 }), (items) => table([
    ['标题', (l) => h('a', { href: `/app/listings/${l.id}/registrations` }, l.title)],
    ['编号', (l) => l.listing_no], ['报名截止', (l) => dateTime(l.registration_closes_at)],
  ], items, { caption: '挂牌中', empty: '没有挂牌中的项目' }));
}

/** `/app/listings/{id}/registrations`: staff qualify, reject, take deposits, refund; the owner collective sees a summary. */
export async function registrations(main, [id]) {
  const user = currentUser();
  const l = await get(`/listings/${id}`);
  const reload = () => go(`/app/listings/${id}/registrations`, { replace: true });
  const box = h('div');
  clear(main, h('h1', {}, `报名情况：${l.title}`),
    h('p', {}, h('a', { href: `/app/listings/${id}` }, '返回项目页'), ` · 保证金 ${yuan(l.deposit_fen)} · 报名截止 ${dateTime(l.registration_closes_at)}`),
    box);
  const regs = await get(`/listings/${id}/registrations`, { limit: 200 });
  if (user.role === 'collective') {
    const count = (pred) => regs.items.filter(pred).length;
    box.append(section('报名汇总', h('p', {}, `共 ${regs.items.length} 人报名，资格通过 ${count((r) => r.status === 'qualified')} 人，保证金已确认 ${count((r) => r.deposit_status === 'confirmed')} 人。`),
      table([['报名', (r) => r.id.slice(0, 8)], ['资格', (r) => status(r.status)], ['保证金', (r) => status(r.deposit_status)]], regs.items, { caption: '报名汇总' })));
    return;
  }
  box.append(table([
    ['竞买人', (r) => h('span', {}, r.legal_name, h('br'), h('small', {}, `${ID_TYPE[r.id_type]} ${r.id_number}`))],
    ['电话', (r) => r.phone],
    ['经营经历 / 方案', (r) => h('details', {}, h('summary', {}, '查看'), h('p', {}, r.experience), h('p', {}, r.business_plan))],
    ['集体成员', (r) => (r.claims_membership ? (r.member_verified ? '已核实' : '自报') : '否')],
    ['资格', (r) => h('span', { class: `badge ${r.status}` }, status(r.status))],
    ['保证金', (r) => h('span', { class: `badge ${r.deposit_status}` }, status(r.deposit_status))],
    ['操作', (r) => regActions(r, l, reload)],
  ], regs.items, { caption: '报名与保证金', empty: '暂无报名' }));
}

function regActions(r, l, reload) {
  const box = h('div', { class: 'row-actions' });
  if (r.status === 'applied') {
    box.append(action(`资格通过：${r.legal_name}`, async () => {
      const body = r.claims_membership ? { member_verified: box.querySelector('input[name=member]')?.checked || false } : {};
      await post(`/registrations/${r.id}/qualify`, body);
      reload();
    }, { className: 'btn small primary' }));
    if (r.claims_membership) {
      const cid = `member-${r.id}`;
      box.append(h('span', { class: 'check' }, h('input', { type: 'checkbox', id: cid, name: 'member' }), h('label', { for: cid }, '核实为集体成员')));
    }
    box.append(reasonAction('不予通过', `/registrations/${r.id}/reject`, reload));
  }
  if (r.deposit_status === 'unpaid' && ['applied', 'qualified'].includes(r.status)) {
    box.append(form({
      label: `确认保证金：${r.legal_name}`, className: 'form inline', submit: `确认保证金到账：${r.legal_name}`,
      fields: [field({ name: 'receipt_ref', label: '银行回单号', required: true })],
      onSubmit: async (v) => { await post(`/registrations/${r.id}/deposit`, { amount_fen: l.deposit_fen, receipt_ref: v.receipt_ref }); reload(); },
    }));
  }
  if (r.deposit_status === 'refund_due') {
    box.append(form({
      label: `退还保证金：${r.legal_name}`, className: 'form inline', submit: '登记退还',
      fields: [field({ name: 'receipt_ref', label: '退款回单号', required: true })],
      onSubmit: async (v) => { await post(`/registrations/${r.id}/refund`, v); reload(); },
    }));
  }
  return box;
}

/** `/app/signals` (`?listing=` for one listing): hints of collusion for a person to look at. */
export async function signals(main, _p, query) {
  const user = currentUser();
  const box = h('div');
  clear(main, h('h1', {}, '围标串标提示'),
    h('p', { class: 'hint' }, '提示仅供人工核查，不是认定结论，也不会改变任何状态。'), box);
  const load = query.listing
    ? () => get(`/listings/${query.listing}/signals`).then((p) => ({ items: p.items, next: null }))
    : async () => {
      let townshipId = user.township_id;
      if (!townshipId) townshipId = (await get('/townships', { limit: 1 })).items[0]?.id;
      return page(`/townships/${townshipId}/signals`, { limit: 50 });
    };
  try {
    await paged(box, load, (items) => table([
      ['类型', (s) => SIGNAL[s.kind] || s.kind],
      ['严重程度', (s) => h('span', { class: `badge sev-${s.severity}` }, SEVERITY[s.severity])],
      ['挂牌', (s) => (s.listing_id ? h('a', { href: `/app/listings/${s.listing_id}` }, s.listing_no || '查看') : '—')],
      ['时间', (s) => dateTime(s.at)],
      ['摘要', (s) => s.summary],
    ], items, { caption: '提示', empty: '窗口内没有发现提示' }));
  } catch (e) {
    showProblem(box, e);
  }
}

/** `/app/audit/{stream}`: one audit stream, its chain checked by the server. */
export async function audit(main, [stream]) {
  const box = h('div');
  const first = await get(`/audit/streams/${stream}`, { limit: 100 });
  clear(main, h('h1', {}, '审计记录'),
    h('p', { role: 'status', class: first.verified ? 'ok' : 'warn' },
      first.verified ? `记录链校验通过（${first.stream}）` : `记录链校验失败：第 ${first.broken_at_seq} 条，${first.problem}`), box);
  await paged(box, () => page(`/audit/streams/${stream}`, { limit: 100 }), (items) => table([
    ['序号', (r) => r.seq], ['时间', (r) => dateTime(r.created_at)],
    ['操作者', (r) => (r.actor_role ? ROLE[r.actor_role] || r.actor_role : '系统')],
    ['动作', (r) => r.action], ['状态', (r) => `${r.from_state ? status(r.from_state) : ''} → ${r.to_state ? status(r.to_state) : ''}`],
    ['金额', (r) => (r.amount_fen !== undefined && r.amount_fen !== null ? yuan(r.amount_fen) : '')],
    ['原因', (r) => r.reason || ''],
  ], items, { caption: '审计记录' }));
}
