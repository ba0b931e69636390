// The live auction: current price, leader, a countdown that follows every extension, the bid
// feed over Server-Sent Events (the feed route is public, so EventSource needs no token), and
// for an eligible investor one-tap "next increment", a priority bid where allowed and a
// custom bid, each refusal explained from the problem's `code`.

import { get, post, newKey } from './api.js';
import { h, clear, section, onLeave, showProblem } from './ui.js';
import { perMu, dateTime, countdown, parseYuan } from './format.js';
import { status } from './labels.js';

// The alias the server gave this investor's bids, per listing (kept while the page lives).
const myAliases = new Map();

export function livePanel(l, { user, myReg }) {
  const st = {
    status: l.status,
    price: l.current_price_fen ?? null,
    leader: null,
    ends: l.current_ends_at || l.auction_ends_at,
    extended: false,
    closed: null,
    skewMs: 0, // server clock − this device's clock, learned from bids as they happen
  };
  const eligible = user?.role === 'investor' && myReg && myReg.status === 'qualified' && myReg.deposit_status === 'confirmed';
  const priceEl = h('p', { class: 'live-price', 'aria-live': 'polite' });
  const leaderEl = h('p', { class: 'live-leader' });
  const endsEl = h('p', { class: 'live-ends' });
  const countdownEl = h('p', { class: 'live-countdown', role: 'timer', 'aria-live': 'off' });
  const phaseEl = h('p', { class: 'live-phase', role: 'status' });
  const feedList = h('ol', { class: 'bid-feed', 'aria-label': '出价记录（最新在前）' });
  const controls = h('div', { class: 'bid-controls' });
  const refusal = h('div', { class: 'form-error', role: 'alert' });

  const mine = () => myAliases.get(l.id);
  const leading = () => st.leader !== null && st.leader === mine();
  const nextAmount = () => (st.price === null ? l.reserve_price_fen : st.price + l.min_increment_fen);

  function draw() {
    priceEl.replaceChildren(h('span', { class: 'label' }, st.price === null ? '起拍价（底价）' : '当前价'), ' ',
      h('strong', {}, perMu(st.price ?? l.reserve_price_fen)));
    leaderEl.textContent = st.leader ? `领先：${st.leader}${leading() ? '（您）' : ''}` : '尚无出价';
    endsEl.replaceChildren(`结束时间：${dateTime(st.ends)}`, st.extended ? h('span', { class: 'badge extended' }, '已延时') : '');
    if (st.closed) {
      phaseEl.textContent = st.closed.outcome === 'awarded'
        ? `竞价结束：成交价 ${perMu(st.closed.winning_price_fen)}` : '竞价结束：流拍';
    } else if (st.status === 'announced') {
      phaseEl.textContent = `报名中，竞价开始时间 ${dateTime(l.auction_starts_at)}`;
    } else {
      phaseEl.textContent = `状态：${status(st.status)}`;
    }
    drawControls();
    tick();
  }

  function tick() {
    if (st.closed) {
      countdownEl.textContent = '已结束';
      return;
    }
    const left = new Date(st.ends).getTime() - (Date.now() + st.skewMs);
    countdownEl.textContent = `剩余 ${countdown(left)}`;
  }

  async function bid(amount) {
    refusal.textContent = '';
    try {
      const b = await post(`/listings/${l.id}/bids`, { amount_fen: amount }, { idempotencyKey: newKey() });
      myAliases.set(l.id, b.bidder_alias);
      st.skewMs = new Date(b.placed_at).getTime() - Date.now();
      if (st.price === null || b.current_price_fen >= st.price) {
        st.price = b.current_price_fen;
        st.leader = b.bidder_alias;
        st.ends = b.current_ends_at;
      }
      draw();
    } catch (e) {
      showProblem(refusal, e);
    }
  }

  function drawControls() {
    clear(controls);
    if (!eligible || st.closed || st.status !== 'auction') {
      if (user?.role === 'investor' && myReg && !eligible && !st.closed) {
        controls.append(h('p', { class: 'hint' }, '您的报名尚未取得竞买资格（需资格审查通过并确认保证金）。'));
      }
      return;
    }
    const next = nextAmount();
    const one = h('button', { type: 'button', class: 'btn primary big', disabled: leading() }, `出价 ${perMu(next)}`);
    one.addEventListener('click', () => bid(next));
    controls.append(one);
    if (leading()) controls.append(h('p', { class: 'ok' }, '您是当前最高出价人'));
    if (myReg.member_verified && st.price !== null && !leading()) {
      const pri = h('button', { type: 'button', class: 'btn' }, `行使优先权：按当前价 ${perMu(st.price)} 出价`);
      pri.addEventListener('click', () => bid(st.price));
      controls.append(pri);
    }
    const input = h('input', { id: `custom-bid-${l.id}`, inputmode: 'decimal', name: 'amount', autocomplete: 'off' });
    const custom = h('form', { class: 'custom-bid', 'aria-label': '自定义出价' },
      h('label', { for: input.id }, '自定义出价（元/亩·年）'), input,
      h('button', { type: 'submit', class: 'btn' }, '出价'));
    custom.addEventListener('submit', (ev) => {
      ev.preventDefault();
      let amount;
      try {
        amount = parseYuan(input.value);
      } catch (e) {
        refusal.textContent = e.message;
        return;
      }
      if (amount !== null) bid(amount);
    });
    controls.append(custom);
  }

  function addBidRow(b) {
    feedList.prepend(h('li', { class: b.priority ? 'priority' : '' },
      h('span', { class: 'who' }, b.bidder_alias), ' ', h('strong', {}, perMu(b.amount_fen)),
      b.priority ? ' （优先权）' : '', ' ', h('time', { datetime: b.placed_at }, dateTime(b.placed_at))));
    while (feedList.children.length > 50) feedList.lastChild.remove();
  }

  const panel = section('网络竞价', phaseEl, priceEl, leaderEl, endsEl, countdownEl, controls, refusal,
    h('h3', {}, '出价记录'), feedList);
  panel.classList.add('live');
  draw();
  tick();
  const timer = setInterval(tick, 1000);
  onLeave(() => clearInterval(timer));

  if (['announced', 'auction'].includes(l.status)) {
    const es = new EventSource(`/api/v1/listings/${l.id}/events`);
    let openedAt = 0;
    es.addEventListener('open', () => { openedAt = Date.now(); });
    es.addEventListener('bid', (ev) => {
      const b = JSON.parse(ev.data);
      // Bids replayed on connect are history; one arriving later is news, and its time is the
      // server's clock now (give or take the feed's half second).
      if (openedAt && Date.now() - openedAt > 1500) st.skewMs = new Date(b.placed_at).getTime() - Date.now();
      st.price = b.current_price_fen;
      st.leader = b.bidder_alias;
      if (b.current_ends_at) st.ends = b.current_ends_at;
      if (st.status === 'announced') st.status = 'auction';
      addBidRow(b);
      draw();
    });
    es.addEventListener('extended', (ev) => {
      st.ends = JSON.parse(ev.data).current_ends_at;
      st.extended = true;
      draw();
    });
    es.addEventListener('closed', (ev) => {
      st.closed = JSON.parse(ev.data);
      st.status = st.closed.outcome;
      es.close();
      draw();
      tick();
      panel.dispatchEvent(new CustomEvent('auction-closed', { bubbles: true }));
    });
    onLeave(() => es.close());
  } else {
    get(`/listings/${l.id}/bids`, { limit: 50 }).then((p) => {
      for (const b of [...p.items].reverse()) addBidRow(b);
      if (p.items.length) st.leader = p.items[0].bidder_alias;
      st.closed = l.status === 'failed' ? { outcome: 'failed' } : { outcome: 'awarded', winning_price_fen: l.current_price_fen ?? l.reserve_price_fen };
      draw();
      tick();
    }).catch((e) => showProblem(refusal, e));
  }
  return panel;
}
