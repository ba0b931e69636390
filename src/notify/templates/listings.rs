//! Mails of the listings aggregate.
