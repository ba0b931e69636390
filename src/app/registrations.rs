//! Use cases of registrations (filled in as handlers move here).
