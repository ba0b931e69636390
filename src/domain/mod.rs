//! Pure business rules: no actix, no diesel, no clock reads, nothing else of this crate.
//! Handlers and use cases translate to these calls; `now` and configured numbers are always
//! arguments.

pub mod text_enum;

pub mod access;
pub mod account;
pub mod auction;
pub mod calendar;
pub mod claim;
pub mod contract;
pub mod deal;
pub mod document;
pub mod installment;
pub mod listing;
pub mod money;
pub mod numbering;
pub mod open_data;
pub mod parcel;
pub mod policy;
pub mod registration;
pub mod roles;
pub mod signals;
pub mod validate;

/// A field that failed a rule, named as the API names it (`consent.members_agreeing`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}
