// The village collective (村集体): its parcels, its listings (create, edit, submit with each
// submit rule's error beside its field, relist), deals and contracts are on their own screens.

import { get, page, post, patch, del, upload, getBlob, currentUser, Problem } from './api.js';
import { h, clear, field, form, table, paged, section, go, fieldError } from './ui.js';
import { perMu, mu, date, dateTime, fileSize, parseYuan, shanghaiToUtc, utcToShanghai } from './format.js';
import { status, problemText, LAND_TYPE, USE, LISTING_DOC_KIND } from './labels.js';

/** `/app/collective`: parcels and listings of the village. */
export async function home(main) {
  const user = currentUser();
  const parcels = h('div');
  const listings = h('div');
  clear(main, h('h1', {}, '地块与挂牌'),
    h('div', { class: 'actions-row' },
      h('a', { class: 'btn primary', href: '/app/listings/new' }, '新建挂牌'),
      h('a', { class: 'btn', href: '/app/parcels/new' }, '登记地块'),
      h('a', { class: 'btn', href: '/app/me' }, '甲方信息')),
    section('本村挂牌', listings), section('本村地块', parcels));
  await paged(listings, () => page('/listings', { mine: true, limit: 50 }), (items) => table([
    ['标题', (l) => h('a', { href: `/app/listings/${l.id}` }, l.title)],
    ['编号', (l) => l.listing_no || '—'],
    ['状态', (l) => h('span', { class: `badge ${l.status}` }, status(l.status))],
    ['面积', (l) => mu(l.total_area_mu)],
    ['底价', (l) => perMu(l.reserve_price_fen)],
    ['报名截止', (l) => dateTime(l.registration_closes_at)],
  ], items, { caption: '挂牌项目', empty: '还没有挂牌项目' }));
  await paged(parcels, () => page('/parcels', { village_id: user.village_id, limit: 50 }), parcelTable);
}

function parcelTable(items) {
  return table([
    ['地块编码', (p) => h('a', { href: `/app/parcels/${p.id}` }, p.code)],
    ['面积', (p) => mu(p.area_mu)], ['地类', (p) => LAND_TYPE[p.land_type]],
    ['基本农田', (p) => (p.permanent_basic_farmland ? '是' : '否')], ['承包户', (p) => p.households],
    ['承包期至', (p) => date(p.household_contract_end)], ['状态', (p) => (p.locked ? '已锁定' : '可挂牌')],
  ], items, { caption: '地块', empty: '还没有地块' });
}

const PARCEL_RULES = {
  code: '地块编码为1–64位字母、数字或“-”，全平台唯一', area_mu: '面积为正数，最多两位小数（亩）',
  households: '承包户数须为正整数', quality_grade: '质量等级为1–10', boundary_geojson: '须为 GeoJSON Polygon 或 MultiPolygon',
};

/** `/app/parcels/new` and `/app/parcels/{id}` */
export async function parcelForm(main, [id]) {
  const p = id ? await get(`/parcels/${id}`) : {};
  const editable = !id || (currentUser().role === 'collective' && !p.locked);
  clear(main, h('h1', {}, id ? `地块 ${p.code}` : '登记地块'),
    p.locked ? h('p', { class: 'warn' }, '该地块正在挂牌或合同中，已锁定，不能修改。') : null,
    form({
      label: '地块', submit: id ? '保存' : '登记',
      fields: [
        field({ name: 'code', label: '地块编码', value: p.code, required: true }),
        field({ name: 'area_mu', label: '面积（亩）', value: p.area_mu, inputmode: 'decimal', required: true }),
        field({ name: 'land_type', label: '地类', type: 'select', options: Object.entries(LAND_TYPE), value: p.land_type }),
        field({ name: 'permanent_basic_farmland', label: '永久基本农田', type: 'checkbox', value: p.permanent_basic_farmland }),
        field({ name: 'quality_grade', label: '耕地质量等级（1–10，选填）', type: 'number', min: 1, max: 10, value: p.quality_grade }),
        field({ name: 'households', label: '承包农户数', type: 'number', min: 1, value: p.households, required: true }),
        field({ name: 'household_contract_end', label: '农户承包期截止日', type: 'date', value: p.household_contract_end, required: true }),
        field({ name: 'location', label: '坐落', value: p.location, required: true }),
        field({ name: 'boundary_geojson', label: '边界（GeoJSON，选填）', type: 'textarea', value: p.boundary_geojson ? JSON.stringify(p.boundary_geojson) : '' }),
      ],
      rules: PARCEL_RULES,
      onSubmit: async (v) => {
        if (!editable) throw new Error('该地块不能修改。');
        const body = { ...v, households: Number(v.households), quality_grade: v.quality_grade ? Number(v.quality_grade) : null };
        if (v.boundary_geojson) {
          try { body.boundary_geojson = JSON.parse(v.boundary_geojson); } catch { throw fieldError('boundary_geojson', 'GeoJSON 格式有误'); }
        } else body.boundary_geojson = null;
        if (!id) {
          if (body.quality_grade === null) delete body.quality_grade;
          if (body.boundary_geojson === null) delete body.boundary_geojson;
          await post('/parcels', body);
        } else {
          await patch(`/parcels/${id}`, body);
        }
        go('/app/collective');
      },
    }));
}

/** Each submit rule in words, beside the field the API names. */
export const LISTING_RULES = {
  title: '请填写标题', description: '请填写项目说明',
  parcel_ids: '请选择本村未锁定的地块（每块只选一次）',
  intended_use: '永久基本农田只能用于粮食或蔬菜种植',
  term_start: '流转起始日不得早于竞价结束当日',
  term_end: '流转期至少一年，不超过农户承包期和最长年限',
  reserve_price_fen: '底价须大于0（元/亩·年）', min_increment_fen: '加价幅度须大于0',
  deposit_fen: '保证金须大于0，且不超过一年的底价租金总额',
  registration_closes_at: '报名截止须在提交审核（及审核通过）后至少公告期天数',
  auction_starts_at: '竞价开始不得早于报名截止', auction_ends_at: '竞价结束须晚于竞价开始',
  extension_secs: '延时周期须为至少1秒的整数',
  'consent.resolution_date': '村民会议决议日期不能晚于今天',
  'consent.members_agreeing': '同意人数须达到成员总数的三分之二以上',
  'consent.members_total': '成员总数须大于0',
  'consent.commissions_received': '委托书份数须等于所选地块承包农户数之和',
  documents: '提交审核前须上传至少一份村民会议决议和一份委托书',
};

let docSeq = 0;

/**
 * The listing's 附件 (scans filed with it): each one's kind, name and size, a download (the
 * bytes fetched with the session's token, handed over as a blob URL) and, while the listing is
 * a draft or returned, delete; an upload control. It sits inside the listing form as the
 * `documents` field, so a refused submit's `documents` error shows beside it.
 * `setListing(l)` points it at a (just saved) listing.
 */
function documentsBox() {
  const n = ++docSeq;
  const errId = `docs-${n}-err`;
  const err = h('p', { class: 'field-error', id: errId, role: 'alert' });
  const list = h('div', { class: 'doc-list' });
  const hint = h('p', { class: 'hint', id: `docs-${n}-hint` });
  const kind = h('select', { id: `docs-${n}-kind`, 'aria-describedby': `${hint.id} ${errId}` },
    Object.entries(LISTING_DOC_KIND).map(([v, t]) => h('option', { value: v }, t)));
  const file = h('input', {
    type: 'file', id: `docs-${n}-file`, accept: 'application/pdf,image/jpeg,image/png,.pdf,.jpg,.jpeg,.png',
    'aria-describedby': `${hint.id} ${errId}`,
  });
  const send = h('button', { type: 'button', class: 'btn' }, '上传附件');
  let listing = null;
  const fail = (e) => {
    if (e instanceof Problem) err.replaceChildren(problemText(e), h('span', { class: 'detail', lang: 'en' }, ` (${e.message})`));
    else err.textContent = e?.message || String(e);
  };
  const editable = () => listing && ['draft', 'returned'].includes(listing.status);
  const download = async (d) => {
    const blob = await getBlob(`/documents/${d.id}/content`);
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: d.filename, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  };
  const guarded = (run) => async (ev) => {
    const b = ev.currentTarget;
    b.disabled = true;
    err.textContent = '';
    try { await run(); } catch (e) { fail(e); } finally { b.disabled = false; }
  };
  const refresh = async () => {
    const on = editable();
    kind.disabled = !on;
    file.disabled = !on;
    send.disabled = !on;
    hint.textContent = !listing ? '先保存草稿（或点“保存并提交审核”）后即可上传附件。'
      : on ? '可上传 PDF、JPEG 或 PNG 文件，每个不超过 20 MB。提交审核前须有村民会议决议和委托书。'
        : '该挂牌已不在草稿或退回状态，附件不能再修改。';
    if (!listing) { list.replaceChildren(h('p', { class: 'empty' }, '还没有附件')); return; }
    const items = [];
    let p = await page(`/listings/${listing.id}/documents`, { limit: 100 });
    for (;;) {
      items.push(...p.items);
      if (!p.next) break;
      p = await p.next();
    }
    list.replaceChildren(table([
      ['类型', (d) => LISTING_DOC_KIND[d.kind] || d.kind],
      ['文件名', (d) => d.filename],
      ['大小', (d) => fileSize(d.size_bytes)],
      ['上传时间', (d) => dateTime(d.created_at)],
      ['操作', (d) => h('span', { class: 'actions-row' },
        h('button', { type: 'button', class: 'btn', 'aria-label': `下载 ${d.filename}`, onclick: guarded(() => download(d)) }, '下载'),
        on ? h('button', {
          type: 'button', class: 'btn', 'aria-label': `删除 ${d.filename}`,
          onclick: guarded(async () => { await del(`/documents/${d.id}`); await refresh(); }),
        }, '删除') : null)],
    ], items, { caption: '已上传附件', empty: '还没有附件' }));
  };
  send.addEventListener('click', guarded(async () => {
    const f = file.files[0];
    if (!f) throw new Error('请选择要上传的文件');
    await upload(`/listings/${listing.id}/documents`, f, { kind: kind.value, filename: f.name });
    file.value = '';
    await refresh();
  }));
  const box = h('fieldset', { class: 'field documents', 'data-field': 'documents' },
    h('legend', {}, '附件'), hint, list,
    h('div', { class: 'upload-row' },
      h('div', { class: 'field' }, h('label', { for: kind.id }, '附件类型'), kind),
      h('div', { class: 'field' }, h('label', { for: file.id }, '附件文件'), file),
      send),
    err);
  box.setListing = async (l) => { listing = l; await refresh().catch(fail); };
  return box;
}

const yuanOf = (fen) => (fen === undefined || fen === null ? '' : (fen / 100).toFixed(2));

/** `/app/listings/new`, `/app/listings/{id}/edit` (and `?relist=1` for a failed listing). */
export async function listingForm(main, [id], query) {
  const user = currentUser();
  let l = id ? await get(`/listings/${id}`) : null;
  const relist = Boolean(l && query.relist);
  const parcels = await get('/parcels', { village_id: user.village_id, limit: 200 });
  const chosen = new Set(l?.parcel_ids || []);
  const parcelBox = h('fieldset', { class: 'field parcels', 'data-field': 'parcel_ids' },
    h('legend', {}, '挂牌地块'),
    parcels.items.map((p) => {
      const cid = `parcel-${p.id}`;
      return h('div', { class: 'check' },
        h('input', { type: 'checkbox', id: cid, name: `parcel:${p.id}`, checked: chosen.has(p.id), disabled: p.locked && !chosen.has(p.id) || relist }),
        h('label', { for: cid }, `${p.code}（${mu(p.area_mu)}，${LAND_TYPE[p.land_type]}${p.permanent_basic_farmland ? '，永久基本农田' : ''}，${p.households}户${p.locked ? '，已锁定' : ''}）`));
    }),
    h('p', { class: 'field-error', role: 'alert' }));
  const f = (name, label, extra = {}) => field({ name, label, ...extra });
  const fields = relist ? [
    f('reserve_price_fen', '新底价（元/亩·年，不得高于原底价）', { value: yuanOf(l.reserve_price_fen), inputmode: 'decimal' }),
    f('term_start', '流转起始日', { type: 'date', value: l.term_start }),
    f('term_end', '流转终止日（含）', { type: 'date', value: l.term_end }),
    f('registration_closes_at', '报名截止（北京时间）', { type: 'datetime-local', required: true }),
    f('auction_starts_at', '竞价开始（北京时间）', { type: 'datetime-local', required: true }),
    f('auction_ends_at', '竞价结束（北京时间）', { type: 'datetime-local', required: true }),
  ] : [
    f('title', '标题', { value: l?.title, required: true, maxlength: 200 }),
    f('description', '项目说明', { type: 'textarea', value: l?.description, required: true, maxlength: 5000 }),
    parcelBox,
    f('intended_use', '拟定用途', { type: 'select', options: Object.entries(USE), value: l?.intended_use }),
    f('term_start', '流转起始日', { type: 'date', value: l?.term_start, required: true }),
    f('term_end', '流转终止日（含）', { type: 'date', value: l?.term_end, required: true }),
    f('reserve_price_fen', '底价（元/亩·年）', { value: yuanOf(l?.reserve_price_fen), inputmode: 'decimal', required: true }),
    f('min_increment_fen', '加价幅度（元/亩·年）', { value: yuanOf(l?.min_increment_fen), inputmode: 'decimal', required: true }),
    f('deposit_fen', '保证金（元）', { value: yuanOf(l?.deposit_fen), inputmode: 'decimal', required: true }),
    f('registration_closes_at', '报名截止（北京时间）', { type: 'datetime-local', value: utcToShanghai(l?.registration_closes_at), required: true }),
    f('auction_starts_at', '竞价开始（北京时间）', { type: 'datetime-local', value: utcToShanghai(l?.auction_starts_at), required: true }),
    f('auction_ends_at', '竞价结束（北京时间）', { type: 'datetime-local', value: utcToShanghai(l?.auction_ends_at), required: true }),
    f('extension_secs', '延时周期（秒）', { type: 'number', min: 1, value: l?.extension_secs ?? 300 }),
    h('fieldset', { class: 'group' }, h('legend', {}, '村民（代表）会议决议'),
      f('consent.resolution_date', '决议日期', { type: 'date', value: l?.consent.resolution_date, required: true }),
      f('consent.members_agreeing', '同意人数', { type: 'number', min: 0, value: l?.consent.members_agreeing, required: true }),
      f('consent.members_total', '应到成员总数', { type: 'number', min: 1, value: l?.consent.members_total, required: true }),
      f('consent.commissions_received', '收到农户委托书（份）', { type: 'number', min: 0, value: l?.consent.commissions_received, required: true })),
  ];
  const docs = relist ? null : documentsBox();
  if (docs) fields.push(docs);
  const money = (v, name) => {
    try { return parseYuan(v[name]); } catch (e) { throw fieldError(name, e.message); }
  };
  clear(main, h('h1', {}, relist ? `重新挂牌：${l.title}` : l ? `编辑挂牌：${l.title}` : '新建挂牌'),
    l?.return_reason && l.status === 'returned' ? h('p', { class: 'warn' }, `退回原因：${l.return_reason}`) : null,
    form({
      label: '挂牌信息', submit: relist ? '生成新挂牌草稿' : '保存并提交审核', rules: LISTING_RULES, fields,
      more: relist ? [] : [['draft', '仅保存草稿']],
      onSubmit: async (v, formEl, intent) => {
        if (relist) {
          const body = {
            registration_closes_at: shanghaiToUtc(v.registration_closes_at),
            auction_starts_at: shanghaiToUtc(v.auction_starts_at),
            auction_ends_at: shanghaiToUtc(v.auction_ends_at),
          };
          const reserve = money(v, 'reserve_price_fen');
          if (reserve !== null) body.reserve_price_fen = reserve;
          if (v.term_start) body.term_start = v.term_start;
          if (v.term_end) body.term_end = v.term_end;
          const created = await post(`/listings/${l.id}/relist`, body);
          go(`/app/listings/${created.id}/edit`);
          return;
        }
        const body = {
          title: v.title, description: v.description,
          parcel_ids: [...formEl.querySelectorAll('input[name^="parcel:"]:checked')].map((x) => x.name.slice(7)),
          intended_use: v.intended_use, term_start: v.term_start, term_end: v.term_end,
          reserve_price_fen: money(v, 'reserve_price_fen'), min_increment_fen: money(v, 'min_increment_fen'),
          deposit_fen: money(v, 'deposit_fen'),
          registration_closes_at: shanghaiToUtc(v.registration_closes_at),
          auction_starts_at: shanghaiToUtc(v.auction_starts_at),
          auction_ends_at: shanghaiToUtc(v.auction_ends_at),
          extension_secs: Number(v.extension_secs || 300),
          consent: {
            resolution_date: v['consent.resolution_date'],
            members_agreeing: Number(v['consent.members_agreeing']),
            members_total: Number(v['consent.members_total']),
            commissions_received: Number(v['consent.commissions_received']),
          },
        };
        // Saved first (a new listing becomes a draft the form then edits), then submitted:
        // the submit rules' errors come back beside their fields.
        l = l ? await patch(`/listings/${l.id}`, body) : await post('/listings', body);
        history.replaceState(null, '', `/app/listings/${l.id}/edit`);
        await docs.setListing(l);
        if (intent === 'draft') { go(`/app/listings/${l.id}`); return; }
        await post(`/listings/${l.id}/submit`);
        go(`/app/listings/${l.id}`);
      },
    }),
    l ? h('p', {}, h('a', { href: `/app/listings/${l.id}` }, '返回项目页')) : null);
  if (docs) await docs.setListing(l);
}
