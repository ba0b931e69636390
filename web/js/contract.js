// A contract (流转合同) for everyone who may read it, with the caller's actions: sign (甲方 or
// 乙方), certify or cancel (staff), terminate, print; its rent schedule with payments, its
// insurance policies (quote) and claims (file). Also the contract list and the rent overview.

import { get, page, post, api, currentUser } from './api.js';
import { h, clear, field, form, table, paged, facts, section, action, go, showProblem, fieldError } from './ui.js';
import { yuan, perMu, mu, date, dateTime, parseYuan, shanghaiDate } from './format.js';
import { status, USE, LAND_TYPE, GROUND, ID_TYPE } from './labels.js';
import { contractTable } from './investor.js';

/** `/app/contracts?status=` */
export async function list(main, _p, query) {
  const user = currentUser();
  const wanted = query.status ?? (user.role === 'staff' ? 'signed' : '');
  const f = form({
    label: '合同筛选', className: 'form filters', submit: '筛选',
    fields: [field({ name: 'status', label: '状态', type: 'select', value: wanted, options: [['', '全部'],
      ...['draft', 'signed', 'certified', 'active', 'completed', 'terminated', 'cancelled'].map((s) => [s, status(s)])] })],
    onSubmit: async (v) => go(`/app/contracts?status=${v.status}`),
  });
  const box = h('div');
  clear(main, h('h1', {}, user.role === 'staff' ? '合同鉴证' : '合同'), f, box);
  await paged(box, () => page('/contracts', { status: wanted, limit: 50 }), contractTable);
}

/** `/app/contracts/{id}` */
export async function view(main, [id]) {
  const user = currentUser();
  const c = await get(`/contracts/${id}`);
  const reload = () => go(`/app/contracts/${id}`, { replace: true });
  const owner = user.role === 'collective' && user.village_id === c.village_id;
  const transferee = user.role === 'investor' && user.id === c.transferee.investor_id;
  const staff = user.role === 'admin' || (user.role === 'staff' && user.township_id === c.township_id);
  const buttons = h('div', { class: 'actions-row' });
  if (c.status === 'draft' && ((owner && !c.transferor_signed_at) || (transferee && !c.transferee_signed_at))) {
    buttons.append(action(owner ? '以甲方身份签署' : '以乙方身份签署', async () => { await post(`/contracts/${id}/sign`); reload(); }, { className: 'btn primary' }));
  }
  if (staff && c.status === 'signed') {
    buttons.append(action('鉴证', async () => { await post(`/contracts/${id}/certify`); reload(); }, { className: 'btn primary' }));
  }
  buttons.append(action('打印合同', () => printContract(id, printArea)));
  if (staff) buttons.append(h('a', { class: 'btn', href: `/app/audit/contract:${id}` }, '审计记录'));
  const printArea = h('div', { class: 'print-area' });
  const extra = h('div');
  if (staff && ['draft', 'signed'].includes(c.status)) extra.append(cancelForm(id, reload));
  if ((owner || staff) && ['certified', 'active'].includes(c.status)) extra.append(terminateForm(id, reload));

  clear(main,
    h('h1', {}, `土地经营权流转合同 ${c.certification_no || ''}`.trim()),
    h('p', { class: 'meta' }, h('span', { class: `badge ${c.status}` }, status(c.status)),
      c.insurance_required ? ' · 本镇要求履约保证保险' : ''),
    buttons, printArea,
    section('合同要点', facts([
      ['鉴证编号', c.certification_no || '（鉴证后生成）'],
      ['甲方（流转方）', c.transferor.name || '（甲方签署时填入）'],
      ['统一社会信用代码', c.transferor.unified_social_credit_code || '—'],
      ['乙方（受让方）', `${c.transferee.legal_name}（${ID_TYPE[c.transferee.id_type] || ''} ${c.transferee.id_number_masked}）`],
      ['流转面积', mu(c.total_area_mu)], ['用途', USE[c.intended_use]],
      ['期限', `${date(c.term_start)} 至 ${date(c.term_end)}（${c.years} 期）`],
      ['价格', perMu(c.price_fen)], ['年租金', yuan(c.annual_rent_fen)], ['租金总额', yuan(c.total_rent_fen)],
      ['甲方签署', c.transferor_signed_at ? dateTime(c.transferor_signed_at) : '未签署'],
      ['乙方签署', c.transferee_signed_at ? dateTime(c.transferee_signed_at) : '未签署'],
      ['鉴证时间', c.certified_at ? dateTime(c.certified_at) : '—'],
      c.terminated_at ? ['解除', `${dateTime(c.terminated_at)}，${GROUND[c.termination_ground]}：${c.termination_note}`] : null,
      c.cancelled_at ? ['作废', `${dateTime(c.cancelled_at)}：${c.cancel_reason}`] : null,
    ])),
    section('地块', table([['地块编码', (p) => p.code], ['坐落', (p) => p.location], ['面积', (p) => mu(p.area_mu)],
      ['地类', (p) => LAND_TYPE[p.land_type]], ['质量等级', (p) => p.quality_grade ?? '—']], c.parcels, { caption: '流转地块' })),
    extra);
  if (['certified', 'active', 'completed', 'terminated'].includes(c.status)) {
    main.append(await rentSection(c, { owner, staff }, reload));
    main.append(await insuranceSection(c, { owner, staff, transferee }, reload));
  }
}

/** Fetches the printable contract with the token and prints it from a sandboxed frame. */
async function printContract(id, area) {
  const html = await api('GET', `/contracts/${id}/document`, { accept: 'text/html' });
  const frame = h('iframe', { class: 'print-frame', title: '合同打印预览', sandbox: 'allow-same-origin allow-modals' });
  frame.srcdoc = html;
  frame.addEventListener('load', () => {
    frame.contentWindow.focus();
    frame.contentWindow.print();
  }, { once: true });
  clear(area, h('p', { role: 'status' }, '打印预览：'), frame);
}

function cancelForm(id, done) {
  return section('作废合同', form({
    label: '作废合同', submit: '作废',
    fields: [field({ name: 'reason', label: '作废原因', type: 'textarea', required: true }),
      field({ name: 'forfeit', label: '受让方拒绝签约，没收保证金', type: 'checkbox' })],
    onSubmit: async (v) => { await post(`/contracts/${id}/cancel`, { reason: v.reason, forfeit: v.forfeit }); done(); },
  }));
}

function terminateForm(id, done) {
  return section('解除合同', form({
    label: '解除合同', submit: '解除合同',
    fields: [field({ name: 'ground', label: '解除事由', type: 'select', options: Object.entries(GROUND), required: true }),
      field({ name: 'note', label: '说明', type: 'textarea', required: true })],
    rules: { ground: '以拖欠租金解除的，须有违约（或已由保险赔付）的租金' },
    onSubmit: async (v) => { await post(`/contracts/${id}/terminate`, v); done(); },
  }));
}

async function rentSection(c, { owner, staff }, reload) {
  const inst = await get(`/contracts/${c.id}/installments`, { limit: 200 });
  const payBox = h('div');
  const s = section('租金计划', installmentTable(inst.items, { withContract: false }), payBox);
  if ((owner || staff) && inst.items.some((i) => i.outstanding_fen > 0 && !['cancelled'].includes(i.status))) {
    const open = inst.items.filter((i) => i.outstanding_fen > 0 && !['paid', 'covered', 'cancelled'].includes(i.status));
    payBox.append(h('h3', {}, '登记收到的租金'), form({
      label: '登记租金', submit: '登记',
      fields: [
        field({ name: 'installment', label: '期次', type: 'select', options: open.map((i) => [i.id, `第${i.year}期（未付 ${yuan(i.outstanding_fen)}）`]) }),
        field({ name: 'amount_fen', label: '金额（元）', inputmode: 'decimal', required: true }),
        field({ name: 'received_on', label: '收款日期', type: 'date', value: shanghaiDate(), required: true }),
        field({ name: 'receipt_ref', label: '收据/银行流水号', required: true }),
      ],
      rules: { amount_fen: '金额须至少 0.01 元，且不超过该期未付金额', received_on: '收款日期不能晚于今天' },
      onSubmit: async (v) => {
        let amount;
        try { amount = parseYuan(v.amount_fen); } catch (e) { throw fieldError('amount_fen', e.message); }
        await post(`/installments/${v.installment}/payments`, { amount_fen: amount, received_on: v.received_on, receipt_ref: v.receipt_ref });
        reload();
      },
    }));
  }
  if (owner || staff) {
    const defaulted = inst.items.filter((i) => i.status === 'defaulted');
    if (defaulted.length) {
      payBox.append(h('h3', {}, '向保险公司报案'), form({
        label: '理赔报案', submit: '报案',
        fields: [field({ name: 'installment_id', label: '违约期次', type: 'select', options: defaulted.map((i) => [i.id, `第${i.year}期（未付 ${yuan(i.outstanding_fen)}）`]) }),
          field({ name: 'note', label: '情况说明', type: 'textarea', required: true })],
        onSubmit: async (v) => { const cl = await post('/claims', v); go(`/app/claims/${cl.id}`); },
      }));
    }
  }
  return s;
}

export function installmentTable(items, { withContract = true } = {}) {
  return table([
    withContract ? ['合同', (i) => h('a', { href: `/app/contracts/${i.contract_id}` }, '查看')] : null,
    ['期次', (i) => `第${i.year}期`],
    ['期间', (i) => `${date(i.period_start)}–${date(i.period_end)}`],
    ['应付日', (i) => date(i.due_date)],
    ['应付', (i) => yuan(i.amount_fen)],
    ['已付', (i) => yuan(i.paid_fen)],
    ['保险赔付', (i) => yuan(i.insurer_paid_fen)],
    ['未付', (i) => yuan(i.outstanding_fen)],
    ['状态', (i) => h('span', { class: `badge ${i.status}` }, status(i.status))],
  ].filter(Boolean), items, { caption: '租金期次' });
}

async function insuranceSection(c, { staff, transferee }, reload) {
  const policies = await get('/policies', { contract_id: c.id, limit: 200 });
  const box = section('履约保证保险', table([
    ['年度', (p) => `第${p.year}年`], ['保险公司', (p) => p.insurer_name || p.insurer_id.slice(0, 8)],
    ['保单号', (p) => p.policy_no || '（出单后）'], ['保额', (p) => yuan(p.sum_insured_fen)],
    ['保费', (p) => yuan(p.premium_fen)], ['财政补贴', (p) => yuan(p.subsidy_fen)], ['投保人自付', (p) => yuan(p.holder_premium_fen)],
    ['状态', (p) => status(p.status)],
    ['', (p) => (p.status === 'quoted' && (staff || transferee)
      ? action('撤回报价', async () => { await post(`/policies/${p.id}/cancel`); reload(); }) : '')],
  ], policies.items, { caption: '保单', empty: '尚未投保' }));
  if (staff || transferee) {
    const insurers = await get('/insurers', { limit: 200 });
    box.append(h('h3', {}, '申请保险报价'), form({
      label: '申请保险报价', submit: '申请报价',
      fields: [
        field({ name: 'year', label: '合同年度', type: 'select', options: Array.from({ length: c.years }, (_, k) => [k + 1, `第${k + 1}年`]) }),
        field({ name: 'insurer_id', label: '保险公司', type: 'select', options: insurers.items.map((i) => [i.id, i.name]) }),
      ],
      onSubmit: async (v) => { await post('/policies', { contract_id: c.id, year: Number(v.year), insurer_id: v.insurer_id }); reload(); },
    }));
  }
  return box;
}

/** `/app/installments`: the rent overview (staff: overdue and defaulted by default). */
export async function installments(main, _p, query) {
  const user = currentUser();
  const wanted = query.status ?? (['staff', 'admin'].includes(user.role) ? 'overdue,defaulted' : '');
  const f = form({
    label: '租金筛选', className: 'form filters', submit: '筛选',
    fields: [field({ name: 'status', label: '状态', type: 'select', value: wanted, options: [['', '全部'], ['overdue,defaulted', '逾期和违约'],
      ...['scheduled', 'due', 'overdue', 'defaulted', 'paid', 'covered', 'cancelled'].map((s) => [s, status(s)])] })],
    onSubmit: async (v) => go(`/app/installments?status=${encodeURIComponent(v.status)}`),
  });
  const box = h('div');
  clear(main, h('h1', {}, ['staff', 'admin'].includes(user.role) ? '逾期与违约' : '租金'), f, box);
  try {
    await paged(box, () => page('/installments', { status: wanted, limit: 50 }), (items) => installmentTable(items));
  } catch (e) {
    showProblem(box, e);
  }
}
