//! Mails of the trading aggregate.
