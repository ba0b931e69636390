// Public screens: search listings with the API's filters, a listing's detail (parcels drawn
// from their GeoJSON, bids, the deal, and the actions of whoever is signed in), open data.

import { get, page, post, currentUser } from './api.js';
import { h, clear, field, form, table, paged, facts, section, action, badge, go, showProblem } from './ui.js';
import { yuan, perMu, mu, dateTime, date, parseYuan } from './format.js';
import { status, LAND_TYPE, USE } from './labels.js';
import { parcelMap } from './geo.js';
import { livePanel } from './live.js';

const opts = (map) => [['', '不限'], ...Object.entries(map)];

async function townshipOptions() {
  const t = await get('/townships', { limit: 200 });
  return [['', '不限'], ...t.items.map((x) => [x.id, x.name])];
}

/** `/`: the public search. */
export async function search(main, _params, query) {
  const townships = await townshipOptions();
  const villageSelect = field({ name: 'village_id', label: '村', type: 'select', options: [['', '不限']] });
  const fillVillages = async (township) => {
    const sel = villageSelect.querySelector('select');
    const chosen = query.village_id || '';
    sel.replaceChildren(h('option', { value: '' }, '不限'));
    if (!township) return;
    const v = await get(`/townships/${township}/villages`, { limit: 200 });
    for (const x of v.items) sel.append(h('option', { value: x.id, selected: x.id === chosen }, x.name));
  };
  const townshipField = field({ name: 'township_id', label: '镇', type: 'select', options: townships, value: query.township_id });
  townshipField.querySelector('select').addEventListener('change', (e) => fillVillages(e.target.value));
  const filters = form({
    label: '筛选挂牌项目',
    className: 'form filters',
    submit: '搜索',
    fields: [
      field({ name: 'q', label: '关键词（标题）', value: query.q, type: 'search' }),
      field({ name: 'status', label: '状态', type: 'select', value: query.status,
        options: [['', '全部公开'], ...['announced', 'auction', 'awarded', 'contracted', 'failed'].map((s) => [s, status(s)])] }),
      townshipField, villageSelect,
      field({ name: 'land_type', label: '地类', type: 'select', options: opts(LAND_TYPE), value: query.land_type }),
      field({ name: 'intended_use', label: '用途', type: 'select', options: opts(USE), value: query.intended_use }),
      field({ name: 'min_area_mu', label: '最小面积（亩）', inputmode: 'decimal', value: query.min_area_mu }),
      field({ name: 'max_area_mu', label: '最大面积（亩）', inputmode: 'decimal', value: query.max_area_mu }),
      field({ name: 'max_reserve_price_yuan', label: '底价上限（元/亩·年）', inputmode: 'decimal', value: query.max_reserve_price_yuan }),
      field({ name: 'sort', label: '排序', type: 'select', value: query.sort, options: [
        ['', '默认'], ['registration_closes_at', '报名截止 早→晚'], ['-registration_closes_at', '报名截止 晚→早'],
        ['reserve_price_fen', '底价 低→高'], ['-reserve_price_fen', '底价 高→低'],
        ['-total_area_mu', '面积 大→小'], ['total_area_mu', '面积 小→大']] }),
    ],
    onSubmit: async (v) => {
      const q = new URLSearchParams(Object.entries(v).filter(([, x]) => x !== ''));
      go(`/${q.toString() ? `?${q}` : ''}`);
    },
  });
  await fillVillages(query.township_id);
  const results = h('div', { class: 'results', 'aria-live': 'polite' });
  clear(main, h('h1', {}, '农村土地经营权挂牌项目'), filters, results);
  const apiQuery = { ...query, limit: 20 };
  delete apiQuery.max_reserve_price_yuan;
  try {
    const max = parseYuan(query.max_reserve_price_yuan);
    if (max !== null) apiQuery.max_reserve_price_fen = max;
  } catch (e) {
    showProblem(filters, e);
    return;
  }
  try {
    await paged(results, () => page('/listings', apiQuery), (items) => h('ul', { class: 'cards' },
      items.length ? items.map(listingCard) : h('li', { class: 'empty' }, '没有符合条件的挂牌项目')));
  } catch (e) {
    showProblem(filters, e);
  }
}

export function listingCard(l) {
  return h('li', { class: 'listing-card' },
    h('h3', {}, h('a', { href: `/app/listings/${l.id}` }, l.title)),
    h('p', { class: 'meta' }, badge(status(l.status), l.status), ' ', l.listing_no || '（未编号）'),
    facts([
      ['面积', mu(l.total_area_mu)],
      ['底价', perMu(l.reserve_price_fen)],
      ['年底价租金', yuan(l.annual_reserve_rent_fen)],
      ['用途', USE[l.intended_use]],
      ['报名截止', dateTime(l.registration_closes_at)],
      l.current_price_fen !== null && l.current_price_fen !== undefined ? ['当前价', perMu(l.current_price_fen)] : null,
    ]));
}

/** The investor's registration for a listing, if any. */
async function myRegistration(listingId) {
  let p = await page('/me/registrations', { limit: 200 });
  for (;;) {
    const r = p.items.find((x) => x.listing_id === listingId);
    if (r || !p.next) return r || null;
    p = await p.next();
  }
}

/** `/app/listings/{id}`: everything about one listing, with the caller's actions. */
export async function listing(main, [id]) {
  const user = currentUser();
  const l = await get(`/listings/${id}`);
  const myReg = user?.role === 'investor' ? await myRegistration(id) : null;
  const parts = [
    h('h1', {}, l.title),
    h('p', { class: 'meta' }, badge(status(l.status), l.status), ' ', l.listing_no || '（提交后编号）',
      l.attempt > 1 ? ` · 第${l.attempt}次挂牌` : ''),
  ];
  if (l.return_reason && l.status === 'returned') parts.push(h('p', { class: 'warn' }, `退回原因：${l.return_reason}`));
  if (l.cancel_reason) parts.push(h('p', { class: 'warn' }, `撤销原因：${l.cancel_reason}`));
  const actions = h('div', { class: 'actions-row' });
  parts.push(actions);
  const live = ['announced', 'auction', 'awarded', 'failed', 'contracted'].includes(l.status)
    ? livePanel(l, { user, myReg }) : null;
  if (live) parts.push(live);
  parts.push(section('项目信息', facts([
    ['总面积', mu(l.total_area_mu)],
    ['用途', USE[l.intended_use]],
    ['流转期限', `${date(l.term_start)} 至 ${date(l.term_end)}`],
    ['底价', perMu(l.reserve_price_fen)],
    ['年底价租金', yuan(l.annual_reserve_rent_fen)],
    ['加价幅度', yuan(l.min_increment_fen)],
    ['保证金', yuan(l.deposit_fen)],
    ['报名截止', dateTime(l.registration_closes_at)],
    ['竞价时间', `${dateTime(l.auction_starts_at)} 至 ${dateTime(l.auction_ends_at)}`],
    ['延时周期', `${l.extension_secs} 秒`],
    ['村民会议决议', `${date(l.consent.resolution_date)}，${l.consent.members_agreeing}/${l.consent.members_total} 人同意，委托书 ${l.consent.commissions_received} 份`],
    l.eligible_bidders !== null && l.eligible_bidders !== undefined ? ['有效竞买人', `${l.eligible_bidders} 人`] : null,
  ]), h('p', { class: 'desc' }, l.description)));
  const map = parcelMap(l.parcels);
  parts.push(section('地块', map ? h('figure', { class: 'map' }, map, h('figcaption', {}, '边界示意（无底图）')) : null,
    table([
      ['地块编码', (p) => p.code], ['面积', (p) => mu(p.area_mu)], ['地类', (p) => LAND_TYPE[p.land_type]],
      ['永久基本农田', (p) => (p.permanent_basic_farmland ? '是' : '否')], ['质量等级', (p) => p.quality_grade ?? '—'],
      ['承包户数', (p) => p.households], ['坐落', (p) => p.location],
    ], l.parcels, { caption: '地块清单' })));
  const dealBox = h('div');
  parts.push(dealBox);
  clear(main, ...parts);
  await roleActions(actions, l, user, myReg);
  if (['awarded', 'contracted', 'failed'].includes(l.status)) await drawDeal(dealBox, l, user, myReg);
  // When the live auction closes, the deal it made appears without a reload.
  live?.addEventListener('auction-closed', () => drawDeal(dealBox, l, user, myReg).catch((e) => showProblem(dealBox, e)));
}

async function roleActions(box, l, user, myReg) {
  if (!user) {
    if (l.status === 'announced') box.append(h('a', { class: 'btn primary', href: `/app/login?next=/app/listings/${l.id}/register` }, '登录后报名'));
    return;
  }
  const reload = () => go(`/app/listings/${l.id}`, { replace: true });
  if (user.role === 'investor') {
    if (myReg) {
      box.append(h('p', { class: 'my-reg' }, `我的报名：${status(myReg.status)}，保证金${status(myReg.deposit_status)}`));
    } else if (l.status === 'announced') {
      box.append(h('a', { class: 'btn primary', href: `/app/listings/${l.id}/register` }, '报名竞买'));
    }
  }
  const owner = user.role === 'collective' && user.village_id === l.village_id;
  const staffHere = (user.role === 'staff' && user.township_id === l.township_id) || user.role === 'admin';
  if (owner) {
    if (['draft', 'returned'].includes(l.status)) {
      box.append(h('a', { class: 'btn', href: `/app/listings/${l.id}/edit` }, '编辑'));
      box.append(action('提交审核', async () => { await post(`/listings/${l.id}/submit`); reload(); }, { className: 'btn primary' }));
    }
    if (['draft', 'returned', 'submitted'].includes(l.status)) box.append(reasonAction('撤销挂牌', `/listings/${l.id}/cancel`, reload));
    if (l.status === 'failed' && !l.relisted_as_id) box.append(h('a', { class: 'btn', href: `/app/listings/${l.id}/edit?relist=1` }, '重新挂牌'));
    if (!['draft'].includes(l.status)) box.append(h('a', { class: 'btn', href: `/app/listings/${l.id}/registrations` }, '报名情况'));
  }
  if (staffHere) {
    if (l.status === 'submitted') {
      box.append(action('审核通过', async () => { await post(`/listings/${l.id}/approve`); reload(); }, { className: 'btn primary' }));
      box.append(reasonAction('退回', `/listings/${l.id}/return`, reload));
    }
    if (l.status === 'announced') box.append(reasonAction('撤销挂牌', `/listings/${l.id}/cancel`, reload));
    if (!['draft', 'submitted', 'returned'].includes(l.status)) box.append(h('a', { class: 'btn', href: `/app/listings/${l.id}/registrations` }, '报名与保证金'));
    box.append(h('a', { class: 'btn', href: `/app/audit/listing:${l.id}` }, '审计记录'));
    box.append(h('a', { class: 'btn', href: `/app/signals?listing=${l.id}` }, '围标串标提示'));
  }
}

/** A button that asks for a reason in a small form, then posts `{reason}`. */
export function reasonAction(text, path, done) {
  const wrap = h('div', { class: 'inline-form' });
  const open = h('button', { type: 'button', class: 'btn' }, text);
  open.addEventListener('click', () => {
    open.hidden = true;
    const f = form({
      label: text, submit: `确认${text}`,
      fields: [field({ name: 'reason', label: `${text}原因`, type: 'textarea', required: true, maxlength: 500 })],
      onSubmit: async (v) => { await post(path, { reason: v.reason }); done(); },
    });
    wrap.append(f);
    f.querySelector('textarea').focus();
  });
  wrap.append(open);
  return wrap;
}

async function drawDeal(box, l, user, myReg) {
  let deal;
  try {
    deal = await get(`/listings/${l.id}/deal`);
  } catch (e) {
    if (e.status === 404) return;
    throw e;
  }
  const mine = user?.role === 'investor' && myReg && deal.registration_id === myReg.id;
  const owner = user?.role === 'collective' && user.village_id === l.village_id;
  const reload = () => go(`/app/listings/${l.id}`, { replace: true });
  const buttons = h('div', { class: 'actions-row' });
  if (deal.status === 'pending_confirmation') {
    if (mine && !deal.winner_confirmed_at) {
      buttons.append(action('确认成交', async () => { await post(`/deals/${deal.id}/confirm`); reload(); }, { className: 'btn primary' }));
      buttons.append(action('放弃成交（保证金将被没收）', async () => { await post(`/deals/${deal.id}/decline`); reload(); }, { className: 'btn danger' }));
    }
    if (owner && !deal.collective_confirmed_at) {
      buttons.append(action('村集体确认成交', async () => { await post(`/deals/${deal.id}/confirm`); reload(); }, { className: 'btn primary' }));
    }
  }
  if (deal.contract_id && user && user.role !== 'anonymous') {
    buttons.append(h('a', { class: 'btn primary', href: `/app/contracts/${deal.contract_id}` }, '查看合同'));
  }
  clear(box, section('成交结果', facts([
    ['成交确认书编号', deal.confirmation_no],
    ['受让方', `${deal.winner_name}（${deal.winner_alias}）`],
    ['成交价', perMu(deal.price_fen)],
    ['年租金', yuan(deal.annual_rent_fen)],
    ['方式', deal.negotiated ? '协议转让（仅一名有效竞买人）' : '网络竞价'],
    ['状态', status(deal.status)],
    ['确认期限', dateTime(deal.confirm_by)],
    ['公示期至', dateTime(deal.publicity_ends_at)],
    ['受让方确认', deal.winner_confirmed_at ? dateTime(deal.winner_confirmed_at) : '未确认'],
    ['村集体确认', deal.collective_confirmed_at ? dateTime(deal.collective_confirmed_at) : '未确认'],
  ]), buttons));
}

/** `/app/open-data`: completed and failed trades, and the year's statistics. */
export async function openData(main, _params, query) {
  const year = query.year || String(new Date().getFullYear());
  const f = form({
    label: '成交公开筛选', className: 'form filters', submit: '查询',
    fields: [field({ name: 'year', label: '年度', value: year, inputmode: 'numeric' }),
      field({ name: 'outcome', label: '结果', type: 'select', value: query.outcome,
        options: [['', '全部'], ['awarded', '已成交'], ['contracted', '已签约'], ['failed', '流拍']] })],
    onSubmit: async (v) => go(`/app/open-data?${new URLSearchParams(Object.entries(v).filter(([, x]) => x))}`),
  });
  const list = h('div');
  const stats = h('div');
  clear(main, h('h1', {}, '成交公开'), f,
    h('p', {}, h('a', { href: `/api/v1/open-data/deals.csv?year=${encodeURIComponent(year)}`, download: '' }, '下载 CSV')),
    stats, list);
  try {
    const s = await get('/stats', { year });
    stats.append(section(`${year}年统计`, facts(statFacts(s))));
  } catch (e) {
    showProblem(stats, e);
  }
  try {
    await paged(list, () => page('/open-data/deals', { year, outcome: query.outcome, limit: 50 }), (items) => table([
      ['挂牌编号', (r) => h('a', { href: `/app/listings/${r.listing_id}` }, r.listing_no)],
      ['村', (r) => `${r.township.name}${r.village.name}`],
      ['面积', (r) => mu(r.total_area_mu)],
      ['用途', (r) => USE[r.intended_use]],
      ['结果', (r) => status(r.outcome)],
      ['底价', (r) => perMu(r.reserve_price_fen)],
      ['成交价', (r) => perMu(r.final_price_fen)],
      ['竞买人/出价', (r) => `${r.eligible_bidders} / ${r.bid_count}`],
      ['受让方', (r) => r.winner?.name || '—'],
    ], items, { caption: '成交与流拍记录' }));
  } catch (e) {
    showProblem(list, e);
  }
}

function statFacts(s) {
  return [
    ['交易结束项目', `${s.listings.closed} 个（成交 ${s.listings.awarded}，签约 ${s.listings.contracted}，流拍 ${s.listings.failed}）`],
    ['鉴证合同', `${s.transfers.contracts_certified} 份，${mu(s.transfers.area_mu)}，年租金 ${yuan(s.transfers.annual_rent_fen)}`],
    ['网络竞价', `${s.auctions.held} 场，有效竞买人 ${s.auctions.eligible_bidders} 人次，出价 ${s.auctions.bids} 次`],
    ['溢价率（中位数）', s.price_over_reserve.median_bp === null ? '—' : `${(s.price_over_reserve.median_bp / 100).toFixed(2)}%`],
    ['履约保险', `${s.insurance.policies} 份，保费 ${yuan(s.insurance.premium_fen)}，财政补贴 ${yuan(s.insurance.subsidy_fen)}`],
    ['应付租金', `${s.installments.due} 期，按时 ${s.installments.paid_on_time}，逾期 ${s.installments.overdue}，违约 ${s.installments.defaulted}`],
    ['理赔', `${s.claims.filed} 件，赔付 ${yuan(s.claims.paid_fen)}；追偿 ${yuan(s.recoveries.amount_fen)}`],
  ];
}
