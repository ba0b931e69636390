// The platform admin: townships and their villages, insurers, users and invitations.

import { get, page, post, patch } from './api.js';
import { h, clear, field, form, table, paged, section, action, go } from './ui.js';
import { dateTime } from './format.js';
import { ROLE } from './labels.js';

const CODE_RULE = { code: '编码须唯一', name: '请填写名称' };

/** `/app/admin`: townships, villages, insurers. */
export async function orgs(main, _p, query) {
  const reload = () => go(`/app/admin${query.township ? `?township=${query.township}` : ''}`, { replace: true });
  const townships = await get('/townships', { limit: 200 });
  const chosen = townships.items.find((t) => t.id === query.township) || townships.items[0];
  const villagesBox = h('div');
  const insurers = await get('/insurers', { limit: 200 });
  clear(main, h('h1', {}, '乡镇、村与保险公司'),
    section('乡镇', table([
      ['编码', (t) => t.code], ['名称', (t) => h('a', { href: `/app/admin?township=${t.id}` }, t.name)],
      ['要求履约保险', (t) => action(t.insurance_required ? '是（点击改为否）' : '否（点击改为是）', async () => {
        await patch(`/townships/${t.id}`, { insurance_required: !t.insurance_required });
        reload();
      }, { className: 'btn small', label: `${t.name}：切换是否要求履约保险` })],
    ], townships.items, { caption: '乡镇' }),
    form({
      label: '新建乡镇', className: 'form inline', submit: '新建乡镇', rules: CODE_RULE,
      fields: [field({ name: 'code', label: '乡镇编码', required: true }), field({ name: 'name', label: '乡镇名称', required: true })],
      onSubmit: async (v) => { await post('/townships', v); reload(); },
    })),
    chosen ? section(`${chosen.name}的村`, villagesBox) : null,
    section('保险公司', table([['编码', (i) => i.code], ['名称', (i) => i.name]], insurers.items, { caption: '保险公司' }),
      form({
        label: '新建保险公司', className: 'form inline', submit: '新建保险公司', rules: CODE_RULE,
        fields: [field({ name: 'code', label: '保险公司编码', required: true }), field({ name: 'name', label: '保险公司名称', required: true })],
        onSubmit: async (v) => { await post('/insurers', v); reload(); },
      })));
  if (!chosen) return;
  const villages = await get(`/townships/${chosen.id}/villages`, { limit: 200 });
  villagesBox.append(table([
    ['编码', (v) => v.code], ['名称', (v) => v.name], ['集体经济组织', (v) => v.legal_name || '—'],
    ['统一社会信用代码', (v) => v.unified_social_credit_code || '—'], ['法定代表人', (v) => v.legal_representative || '—'],
  ], villages.items, { caption: '村' }), form({
    label: '新建村', className: 'form inline', submit: '新建村', rules: CODE_RULE,
    fields: [field({ name: 'code', label: '村编码', required: true }), field({ name: 'name', label: '村名称', required: true })],
    onSubmit: async (v) => { await post('/villages', { township_id: chosen.id, ...v }); reload(); },
  }));
}

/** `/app/admin/users`: accounts, and new ones (without a password: an invitation e-mail). */
export async function users(main) {
  const reload = () => go('/app/admin/users', { replace: true });
  const townships = await get('/townships', { limit: 200 });
  const villageOptions = [['', '—']];
  for (const t of townships.items) {
    const v = await get(`/townships/${t.id}/villages`, { limit: 200 });
    for (const x of v.items) villageOptions.push([x.id, `${t.name}${x.name}`]);
  }
  const insurers = await get('/insurers', { limit: 200 });
  const box = h('div');
  clear(main, h('h1', {}, '用户与邀请'),
    section('新建用户', h('p', { class: 'hint' }, '不填密码时，系统发送设置密码的邀请邮件。'), form({
      label: '新建用户', submit: '新建用户',
      rules: { village_id: '村集体用户须选择村', township_id: '镇交易中心用户须选择乡镇', insurer_id: '保险公司用户须选择保险公司', password: '密码须为10–128位', email: '请填写有效的电子邮箱' },
      fields: [
        field({ name: 'email', label: '电子邮箱', type: 'email', required: true }),
        field({ name: 'display_name', label: '显示名称', required: true }),
        field({ name: 'role', label: '角色', type: 'select', options: Object.entries(ROLE) }),
        field({ name: 'village_id', label: '所属村（村集体）', type: 'select', options: villageOptions }),
        field({ name: 'township_id', label: '所属乡镇（镇交易中心）', type: 'select', options: [['', '—'], ...townships.items.map((t) => [t.id, t.name])] }),
        field({ name: 'insurer_id', label: '所属保险公司', type: 'select', options: [['', '—'], ...insurers.items.map((i) => [i.id, i.name])] }),
        field({ name: 'password', label: '初始密码（选填）', type: 'password', autocomplete: 'new-password' }),
      ],
      onSubmit: async (v) => {
        const body = Object.fromEntries(Object.entries(v).filter(([, x]) => x !== ''));
        await post('/users', body);
        reload();
      },
    })), section('用户', box));
  await paged(box, () => page('/users', { limit: 50 }), (items) => table([
    ['名称', (u) => u.display_name], ['邮箱', (u) => u.email], ['角色', (u) => ROLE[u.role]],
    ['邮箱验证', (u) => (u.email_verified ? '是' : '否')], ['状态', (u) => (u.disabled ? '已停用' : '正常')],
    ['创建时间', (u) => dateTime(u.created_at)],
    ['', (u) => (u.disabled ? '' : action('停用', async () => { await post(`/users/${u.id}/disable`); reload(); }, { className: 'btn small danger', label: `停用 ${u.email}` }))],
  ], items, { caption: '用户' }));
}
