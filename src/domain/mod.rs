//! Pure business rules: no actix, no diesel, no clock reads. Handlers translate HTTP to these
//! calls; `now` is always an argument.

pub mod auction;
pub mod listing;
pub mod money;
pub mod numbering;
pub mod parcel;
pub mod registration;
pub mod roles;
pub mod validate;
