//! Row types: what the tables hold, nothing more. API shapes live in `api/`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::*;
use crate::domain::claim::ClaimStatus;
use crate::domain::contract::ContractStatus;
use crate::domain::deal::DealStatus;
use crate::domain::installment::{InstallmentStatus, PaymentKind};
use crate::domain::listing::{IntendedUse, ListingStatus};
use crate::domain::parcel::LandType;
use crate::domain::policy::PolicyStatus;
use crate::domain::registration::{DepositStatus, IdType, RegistrationStatus};
use crate::domain::roles::Role;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = townships)]
pub struct Township {
    pub id: String,
    pub code: String,
    pub name: String,
    pub insurance_required: bool,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = villages)]
pub struct Village {
    pub id: String,
    pub township_id: String,
    pub code: String,
    pub name: String,
    pub created_at: NaiveDateTime,
    /// The collective economic organisation's legal identity (the contracts' 甲方).
    pub legal_name: Option<String>,
    pub unified_social_credit_code: Option<String>,
    pub legal_representative: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = insurers)]
pub struct Insurer {
    pub id: String,
    pub code: String,
    pub name: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: String,
    pub email: String,
    pub password_hash: Option<String>,
    pub display_name: String,
    pub phone: Option<String>,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub role: Role,
    pub village_id: Option<String>,
    pub township_id: Option<String>,
    pub insurer_id: Option<String>,
    pub email_verified: bool,
    pub disabled: bool,
    pub token_version: i64,
    pub failed_logins: i64,
    pub locked_until: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// What checking an access token's account reads (every signed-in request): who it is, and
/// whether the token still holds. Not the password hash, the profile or the counters.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct Account {
    pub id: String,
    pub email: String,
    #[diesel(deserialize_as = String)]
    pub role: Role,
    pub village_id: Option<String>,
    pub township_id: Option<String>,
    pub insurer_id: Option<String>,
    pub email_verified: bool,
    pub disabled: bool,
    pub token_version: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshToken {
    pub id: String,
    pub user_id: String,
    pub family_id: String,
    pub token_hash: String,
    pub expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub rotated_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = one_time_tokens)]
pub struct OneTimeToken {
    pub id: String,
    pub user_id: String,
    pub purpose: String,
    pub token_hash: String,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = outbox)]
pub struct OutboxMail {
    pub id: String,
    pub to_addr: String,
    pub subject: String,
    pub body: String,
    pub created_at: NaiveDateTime,
    pub next_attempt_at: NaiveDateTime,
    pub attempts: i64,
    pub locked_by: Option<String>,
    pub locked_until: Option<NaiveDateTime>,
    pub sent_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_log)]
pub struct AuditRecord {
    pub id: String,
    pub stream: String,
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
    pub actor_id: Option<String>,
    pub actor_role: Option<String>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub reason: Option<String>,
    pub created_at: NaiveDateTime,
    /// The audit key that signed `hash` (an HMAC link); `None`: the first release's plain
    /// SHA-256 link.
    pub key_id: Option<String>,
    /// Money moved by the transition (a bid's amount), fen.
    pub amount_fen: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = parcels)]
pub struct Parcel {
    pub id: String,
    pub code: String,
    pub village_id: String,
    pub township_id: String,
    pub area_centimu: i64,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub land_type: LandType,
    pub permanent_basic_farmland: bool,
    pub quality_grade: Option<i64>,
    pub households: i64,
    pub household_contract_end: chrono::NaiveDate,
    pub location: String,
    pub boundary_geojson: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = listings, treat_none_as_null = true)]
pub struct Listing {
    pub id: String,
    pub listing_no: Option<String>,
    pub village_id: String,
    pub township_id: String,
    pub created_by: String,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub status: ListingStatus,
    pub title: String,
    pub description: String,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub intended_use: IntendedUse,
    pub land_types: String,
    pub term_start: chrono::NaiveDate,
    pub term_end: chrono::NaiveDate,
    pub reserve_price_fen: i64,
    pub min_increment_fen: i64,
    pub deposit_fen: i64,
    pub total_area_centimu: i64,
    pub annual_reserve_rent_fen: i64,
    pub registration_closes_at: NaiveDateTime,
    pub auction_starts_at: NaiveDateTime,
    pub auction_ends_at: NaiveDateTime,
    pub extension_secs: i64,
    pub consent_resolution_date: chrono::NaiveDate,
    pub consent_members_agreeing: i64,
    pub consent_members_total: i64,
    pub consent_commissions_received: i64,
    pub attempt: i64,
    pub previous_listing_id: Option<String>,
    pub relisted_as_id: Option<String>,
    pub return_reason: Option<String>,
    pub cancel_reason: Option<String>,
    pub submitted_at: Option<NaiveDateTime>,
    pub announced_at: Option<NaiveDateTime>,
    pub closed_at: Option<NaiveDateTime>,
    pub eligible_bidders: Option<i64>,
    pub current_price_fen: Option<i64>,
    pub current_ends_at: Option<NaiveDateTime>,
    pub leading_registration_id: Option<String>,
    pub bid_count: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// What a bid needs of a registration: whose it is and whether it may bid (the leader's too).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = registrations)]
pub struct BidderRegistration {
    pub id: String,
    pub investor_id: String,
    pub member_verified: bool,
    #[diesel(deserialize_as = String)]
    pub status: RegistrationStatus,
    #[diesel(deserialize_as = String)]
    pub deposit_status: DepositStatus,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = registrations, treat_none_as_null = true)]
pub struct Registration {
    pub id: String,
    pub listing_id: String,
    pub investor_id: String,
    pub legal_name: String,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub id_type: IdType,
    pub id_number_enc: String,
    pub id_number_masked: String,
    /// Encrypted (`DataKey`); rows of the first release may hold it in clear: read it with
    /// `Registration::phone_in_clear`.
    pub phone: String,
    pub experience: String,
    pub business_plan: String,
    pub claims_membership: bool,
    pub member_verified: bool,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub status: RegistrationStatus,
    pub reject_reason: Option<String>,
    pub reviewed_at: Option<NaiveDateTime>,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub deposit_status: DepositStatus,
    pub deposit_amount_fen: Option<i64>,
    pub deposit_receipt_ref: Option<String>,
    pub deposit_confirmed_at: Option<NaiveDateTime>,
    pub refund_receipt_ref: Option<String>,
    pub refunded_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// `DataKey::id_hash` of the ID number: one registration per legal person per listing.
    /// NULL only on rows written before it existed, until they are backfilled.
    pub id_number_hash: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = bids)]
pub struct Bid {
    pub id: String,
    pub listing_id: String,
    pub registration_id: String,
    pub seq: i64,
    pub bidder_no: i64,
    pub amount_fen: i64,
    pub priority: bool,
    pub placed_at: NaiveDateTime,
    pub extended_to: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = deals, treat_none_as_null = true)]
pub struct Deal {
    pub id: String,
    pub listing_id: String,
    pub registration_id: String,
    pub round: i64,
    pub negotiated: bool,
    pub confirmation_no: String,
    pub bidder_no: i64,
    pub price_fen: i64,
    pub annual_rent_fen: i64,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub status: DealStatus,
    pub awarded_at: NaiveDateTime,
    pub confirm_by: NaiveDateTime,
    pub publicity_ends_at: NaiveDateTime,
    pub winner_confirmed_at: Option<NaiveDateTime>,
    pub collective_confirmed_at: Option<NaiveDateTime>,
    pub fell_through_at: Option<NaiveDateTime>,
    pub fall_reason: Option<String>,
    pub staff_reminded_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = contracts, treat_none_as_null = true)]
pub struct Contract {
    pub id: String,
    pub listing_id: String,
    pub deal_id: String,
    pub registration_id: String,
    pub village_id: String,
    pub township_id: String,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub status: ContractStatus,
    pub certification_no: Option<String>,
    pub transferor_name: Option<String>,
    pub transferor_credit_code: Option<String>,
    pub transferor_legal_representative: Option<String>,
    pub investor_id: String,
    pub transferee_legal_name: String,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub transferee_id_type: IdType,
    /// Encrypted with the data key; the full number only in the printable document.
    pub transferee_id_number_enc: String,
    pub transferee_id_number_masked: String,
    pub total_area_centimu: i64,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub intended_use: IntendedUse,
    pub term_start: chrono::NaiveDate,
    pub term_end: chrono::NaiveDate,
    pub years: i64,
    pub price_fen: i64,
    pub annual_rent_fen: i64,
    pub total_rent_fen: i64,
    pub deposit_fen: i64,
    pub rent_due_days_before_year: i64,
    pub insurance_required: bool,
    pub transferor_signed_by: Option<String>,
    pub transferor_signed_at: Option<NaiveDateTime>,
    pub transferee_signed_by: Option<String>,
    pub transferee_signed_at: Option<NaiveDateTime>,
    pub signed_at: Option<NaiveDateTime>,
    pub certified_by: Option<String>,
    pub certified_at: Option<NaiveDateTime>,
    pub activated_at: Option<NaiveDateTime>,
    pub completed_at: Option<NaiveDateTime>,
    pub terminated_by: Option<String>,
    pub terminated_at: Option<NaiveDateTime>,
    pub terminated_on: Option<chrono::NaiveDate>,
    /// A [`TerminationGround`] word.
    pub termination_ground: Option<String>,
    pub termination_note: Option<String>,
    pub cancelled_by: Option<String>,
    pub cancelled_at: Option<NaiveDateTime>,
    pub cancel_reason: Option<String>,
    pub forfeit: Option<bool>,
    pub draft_reminded_at: Option<NaiveDateTime>,
    pub signed_reminded_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = contract_parcels)]
pub struct ContractParcel {
    pub contract_id: String,
    pub parcel_id: String,
    pub code: String,
    pub location: String,
    pub area_centimu: i64,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub land_type: LandType,
    pub quality_grade: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = installments, treat_none_as_null = true)]
pub struct Installment {
    pub id: String,
    pub contract_id: String,
    pub village_id: String,
    pub township_id: String,
    pub investor_id: String,
    pub year: i64,
    pub period_start: chrono::NaiveDate,
    pub period_end: chrono::NaiveDate,
    pub due_date: chrono::NaiveDate,
    pub amount_fen: i64,
    pub paid_fen: i64,
    pub insurer_paid_fen: i64,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub status: InstallmentStatus,
    pub reminded_week_before_at: Option<NaiveDateTime>,
    pub reminded_due_at: Option<NaiveDateTime>,
    pub reminded_overdue_at: Option<NaiveDateTime>,
    pub default_notified_at: Option<NaiveDateTime>,
    pub defaulted_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The staff reminder about this year's missing policy went out.
    pub policy_reminded_at: Option<NaiveDateTime>,
}

impl Installment {
    /// `amount − paid − insurer_paid`.
    pub fn outstanding_fen(&self) -> i64 {
        self.amount_fen - self.paid_fen - self.insurer_paid_fen
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = payments)]
pub struct Payment {
    pub id: String,
    pub installment_id: String,
    pub contract_id: String,
    pub amount_fen: i64,
    pub received_on: chrono::NaiveDate,
    pub receipt_ref: String,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub kind: PaymentKind,
    pub recorded_by: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = policies, treat_none_as_null = true)]
pub struct Policy {
    pub id: String,
    pub policy_no: Option<String>,
    pub contract_id: String,
    pub installment_id: String,
    pub year: i64,
    pub insurer_id: String,
    pub village_id: String,
    pub township_id: String,
    pub investor_id: String,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub status: PolicyStatus,
    pub period_start: chrono::NaiveDate,
    pub period_end: chrono::NaiveDate,
    pub sum_insured_fen: i64,
    pub premium_rate_bp: i64,
    pub premium_fen: i64,
    pub subsidy_share_bp: i64,
    pub subsidy_fen: i64,
    pub holder_premium_fen: i64,
    pub quoted_by: Option<String>,
    pub issued_by: Option<String>,
    pub issued_at: Option<NaiveDateTime>,
    pub cancelled_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = claims, treat_none_as_null = true)]
pub struct Claim {
    pub id: String,
    pub claim_no: String,
    pub policy_id: String,
    pub installment_id: String,
    pub contract_id: String,
    pub insurer_id: String,
    pub village_id: String,
    pub township_id: String,
    pub investor_id: String,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub status: ClaimStatus,
    pub claimed_fen: i64,
    pub approved_fen: Option<i64>,
    pub paid_fen: i64,
    pub recovered_fen: i64,
    pub note: String,
    pub decided_reason: Option<String>,
    pub payment_ref: Option<String>,
    pub filed_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = recoveries)]
pub struct Recovery {
    pub id: String,
    pub claim_id: String,
    pub amount_fen: i64,
    pub received_on: chrono::NaiveDate,
    pub reference: String,
    pub recorded_by: Option<String>,
    pub created_at: NaiveDateTime,
}
