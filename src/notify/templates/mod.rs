//! One typed template per business event: its subject and body, Chinese first with an English
//! line. Subjects end with the English phrase clients and tests look for. Call sites name the
//! event (a struct of the facts it reports); the text lives only here, one file per aggregate.

pub mod accounts;
pub mod listings;
pub mod registrations;
pub mod trading;

pub use accounts::*;

/// A business event that is e-mailed.
pub trait Template {
    fn subject(&self) -> String;
    fn body(&self) -> String;
}

/// Every subject starts with the platform's name, so recipients recognise its mail.
pub fn subject(text: &str) -> String {
    format!("【landx 农村土地经营权流转】{text}")
}
