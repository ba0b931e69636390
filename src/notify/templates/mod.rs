//! One typed template per business event: its subject and body, Chinese first with an English
//! line. Subjects end with the English phrase clients and tests look for. Call sites name the
//! event (a struct of the facts it reports); the text lives only here, one file per aggregate.

pub mod accounts;
pub mod contracts;
pub mod insurance;
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

/// How every mail body starts: a fixed line of the platform. Nothing an unverified user chose
/// (a display or legal name) may open a mail, where it could pass for the platform's words.
pub const GREETING: &str = "您好：";

/// The frame of every mail body: [`GREETING`], then the recipient's name, quoted, then `text`.
pub fn greet(name: &str, text: &str) -> String {
    format!("{GREETING}\n\n致“{name}”：\n{text}\n")
}

#[cfg(test)]
mod greeting_tests {
    use super::*;

    #[test]
    fn bodies_open_with_the_platform_line_and_quote_the_name() {
        let b = greet("\u{4e09}张", "正文");
        assert!(b.starts_with("您好：\n\n致“"));
        assert!(b.contains("“\u{4e09}张”"));
    }
}
