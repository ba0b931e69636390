// Chinese names of the API's words (states, land types, uses, roles) and of its problem codes.

export const STATUS = {
  // listings
  draft: '草稿', submitted: '待审核', returned: '已退回', announced: '挂牌中', auction: '竞价中',
  awarded: '已成交', contracted: '已签约', failed: '流拍', cancelled: '已撤销',
  // registrations and deposits
  applied: '已报名', qualified: '资格通过', rejected: '未通过', unpaid: '未缴纳',
  confirmed: '已确认', refund_due: '待退还', refunded: '已退还', forfeited: '已没收',
  applied_to_rent: '已抵作租金',
  // deals
  pending_confirmation: '待确认', fallen_through: '已失效',
  // contracts, installments, policies, claims
  signed: '已签署', certified: '已鉴证', active: '履行中', completed: '已履行完毕',
  terminated: '已解除', scheduled: '未到期', due: '应付', overdue: '逾期', defaulted: '违约',
  paid: '已付清', covered: '保险已赔付', quoted: '已报价', issued: '已出单', expired: '已到期',
  claimed: '已索赔', filed: '已报案', under_review: '审核中', approved: '已核定',
  recovery_open: '追偿中', recovered: '已追偿', written_off: '已核销',
};

export const LAND_TYPE = {
  arable: '耕地', garden: '园地', forest: '林地', aquaculture: '养殖水面', facility: '设施农用地',
};

export const USE = {
  grain: '粮食种植', vegetables: '蔬菜种植', fruit: '果树种植', aquaculture: '水产养殖',
  livestock: '畜禽养殖', mixed_farming: '种养结合', agritourism: '休闲农业',
};

export const ROLE = {
  collective: '村集体', investor: '经营主体', staff: '镇交易中心', insurer: '保险公司', admin: '平台管理员',
};

export const ID_TYPE = { resident_id: '居民身份证', unified_social_credit_code: '统一社会信用代码' };

export const GROUND = {
  rent_default: '拖欠租金', change_of_use: '改变土地用途', idle_land: '土地闲置',
  land_damage: '破坏土地', mutual_agreement: '双方协商一致',
};

export const SIGNAL = {
  shared_identity: '同一主体多账号', shared_phone: '不同主体共用电话', recurring_bidder_pair: '固定搭档竞买',
  low_win_few_bidders: '少人竞买低价成交', cover_bidding: '陪标', rotation_decline: '轮流放弃',
};

/** Kinds of a listing's documents (附件). */
export const LISTING_DOC_KIND = { resolution: '村民会议决议', commission: '委托书', parcel_map: '地块图' };

export const SEVERITY = { high: '高', medium: '中', low: '低' };

/** What a refusal means for the person in front of the screen, by the problem's `code`. */
export const CODE = {
  bad_request: '请求格式有误。',
  unauthorized: '请重新登录（账号或密码错误，或登录已过期）。',
  forbidden: '您没有权限执行此操作。',
  not_found: '未找到该记录，或您无权查看。',
  method_not_allowed: '不支持的操作。',
  invalid_state: '当前状态下不能执行此操作。',
  already_leading: '您已是最高出价人，无需再次出价。',
  conflict: '记录重复（如邮箱、地块编码已被使用，或已报名）。',
  payload_too_large: '提交的内容过大。',
  validation_failed: '请检查标出的字段。',
  bid_too_low: '出价过低：须不低于当前价加一个加价幅度，且符合加价幅度。',
  idempotency_key_reused: '重复提交的请求内容不一致。',
  not_eligible: '您尚未取得竞买资格（资格审查未通过或保证金未确认）。',
  auction_closed: '不在竞价时间内，竞价已结束或尚未开始。',
  unsupported_media_type: '文件类型不受支持。',
  rate_limited: '尝试过于频繁，请稍后再试。',
  unavailable: '服务暂时不可用，请稍后重试。',
  internal: '服务器内部错误。',
};

export function status(word) {
  return STATUS[word] || word || '—';
}

/** One line for a refusal: the code's meaning, then the server's detail. */
export function problemText(p) {
  const meaning = CODE[p.code] || '操作失败。';
  if (p.code === 'rate_limited' && p.retryAfter) return `${meaning}（${p.retryAfter} 秒后）`;
  return meaning;
}
