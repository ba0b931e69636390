//! Use cases of parcels (filled in as handlers move here).
