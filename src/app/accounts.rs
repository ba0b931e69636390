//! Use cases of accounts (filled in as handlers move here).
