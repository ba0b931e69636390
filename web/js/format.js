// How the console writes amounts (元, from integer fen), areas (亩) and times (Asia/Shanghai),
// and reads them back from form fields.

const ZONE = 'Asia/Shanghai';

/** 12345678 fen → "123,456.78 元". */
export function yuan(fen) {
  if (fen === null || fen === undefined) return '—';
  const n = BigInt(fen);
  const neg = n < 0n;
  const abs = neg ? -n : n;
  const whole = (abs / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const cents = (abs % 100n).toString().padStart(2, '0');
  return `${neg ? '-' : ''}${whole}.${cents} 元`;
}

/** A price per mu and year. */
export function perMu(fen) {
  return fen === null || fen === undefined ? '—' : `${yuan(fen)}/亩·年`;
}

/** "158.31" → "158.31 亩". */
export function mu(text) {
  return text === null || text === undefined ? '—' : `${text} 亩`;
}

const dateTimeFmt = new Intl.DateTimeFormat('zh-CN', {
  timeZone: ZONE, year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});

/** An RFC 3339 instant in Shanghai time: "2027/02/21 10:00:00". */
export function dateTime(iso) {
  if (!iso) return '—';
  return dateTimeFmt.format(new Date(iso));
}

/** A business date "2027-03-01" → "2027年3月1日". */
export function date(ymd) {
  if (!ymd) return '—';
  const [y, m, d] = ymd.split('-').map(Number);
  return `${y}年${m}月${d}日`;
}

/** Milliseconds left → "1天 02:03:04" (or "00:00:00"). */
export function countdown(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const days = Math.floor(s / 86400);
  const hms = [Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60), s % 60]
    .map((v) => String(v).padStart(2, '0')).join(':');
  return days ? `${days}天 ${hms}` : hms;
}

/**
 * "1,200.5" (元) → 120050 (fen), or null for an empty field; throws a message for anything
 * that isn't an amount with at most two decimals.
 */
export function parseYuan(text) {
  const t = String(text ?? '').replace(/[,，\s元]/g, '');
  if (t === '') return null;
  const m = /^(\d{1,13})(?:\.(\d{1,2}))?$/.exec(t);
  if (!m) throw new Error('请输入金额（元），最多两位小数');
  return Number(m[1]) * 100 + Number((m[2] || '').padEnd(2, '0'));
}

/** A `datetime-local` value read as Shanghai time → RFC 3339 UTC. */
export function shanghaiToUtc(local) {
  if (!local) return '';
  const withSecs = local.length === 16 ? `${local}:00` : local;
  return new Date(`${withSecs}+08:00`).toISOString().replace('.000Z', 'Z');
}

/** RFC 3339 → a `datetime-local` value in Shanghai time. */
export function utcToShanghai(iso) {
  if (!iso) return '';
  const t = new Date(new Date(iso).getTime() + 8 * 3600 * 1000);
  return t.toISOString().slice(0, 16);
}

/** Today's date in Shanghai, "YYYY-MM-DD" (from the given instant, default now). */
export function shanghaiDate(at = new Date()) {
  return new Date(at.getTime() + 8 * 3600 * 1000).toISOString().slice(0, 10);
}

/** A file size: 512 B, 12.3 KB, 4.5 MB. */
export function fileSize(bytes) {
  const n = Number(bytes);
  if (!Number.isFinite(n)) return '—';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
