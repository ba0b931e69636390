//! What the server leaves behind besides its answers: the mails it queued and the audit
//! records it wrote.

use super::db::{Audit, Mail};
use super::harness::TestApp;

/// Mails to `to` whose subject contains `needle` ("" for all), oldest first.
pub fn mails_about(app: &TestApp, to: &str, needle: &str) -> Vec<Mail> {
    app.outbox()
        .into_iter()
        .filter(|m| m.to_addr == to && m.subject.contains(needle))
        .collect()
}

/// Subjects of every mail to `to`, oldest first.
pub fn subjects(app: &TestApp, to: &str) -> Vec<String> {
    mails_about(app, to, "")
        .into_iter()
        .map(|m| m.subject)
        .collect()
}

/// How many mails to `to` have a subject containing `needle`.
pub fn count_mail(app: &TestApp, to: &str, needle: &str) -> usize {
    mails_about(app, to, needle).len()
}

/// The audit records of one entity in stream order.
pub fn trail(app: &TestApp, entity: &str) -> Vec<Audit> {
    let mut a = app.audit_for(entity);
    a.sort_by_key(|r| r.seq);
    a
}

/// The actions of [`trail`].
pub fn audit_actions(app: &TestApp, entity: &str) -> Vec<String> {
    trail(app, entity).into_iter().map(|r| r.action).collect()
}

/// Subjects of the mails to `to`, without the `Verify your e-mail` one.
pub fn subjects_without_verification(app: &TestApp, to: &str) -> Vec<String> {
    subjects(app, to)
        .into_iter()
        .filter(|s| !s.ends_with("Verify your e-mail"))
        .collect()
}
