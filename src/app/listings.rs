//! Use cases of listings (filled in as handlers move here).
