//! Mails of the registrations aggregate.
