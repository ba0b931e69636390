//! Use cases of orgs (filled in as handlers move here).
