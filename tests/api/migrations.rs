//! Migrations: up → down → up leaves exactly the schema the first up built (compared as a
//! dump, on the run's database), down leaves nothing behind, and both backends have the same
//! migrations.

use crate::support::db::{applied_migrations, schema_dump, tables};
use crate::support::internals::{migrate_down_all, migrate_up, scratch_database};

fn migration_names(backend: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(format!(
        "{}/migrations/{backend}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
    .collect();
    v.sort();
    v
}

#[test]
fn migrations_up_down_up_rebuild_the_same_schema() {
    let db = scratch_database();
    let pool = &db.pool;
    assert!(schema_dump(pool).is_empty(), "a fresh database is empty");

    let applied = migrate_up(pool);
    assert_eq!(
        applied.len(),
        migration_names("sqlite").len(),
        "{applied:?}"
    );
    let first = schema_dump(pool);
    // The dump sees the whole schema: every table, and more than tables.
    let t = tables(pool);
    for table in [
        "users",
        "townships",
        "villages",
        "parcels",
        "listings",
        "registrations",
        "bids",
        "deals",
        "audit_log",
        "outbox",
    ] {
        assert!(t.iter().any(|x| x == table), "{table} in {t:?}");
        assert!(
            first.iter().any(|l| l.contains(table)),
            "{table} missing from the dump"
        );
    }
    assert!(first.len() > t.len(), "{first:#?}");

    migrate_down_all(pool);
    let after_down = schema_dump(pool);
    assert!(
        after_down.is_empty(),
        "down.sql left these behind:\n{}",
        after_down.join("\n")
    );
    assert_eq!(
        applied_migrations(pool),
        0,
        "diesel still records migrations"
    );

    let again = migrate_up(pool);
    assert_eq!(again, applied);
    let second = schema_dump(pool);
    if second != first {
        let gone: Vec<&String> = first.iter().filter(|l| !second.contains(l)).collect();
        let new: Vec<&String> = second.iter().filter(|l| !first.contains(l)).collect();
        panic!("up → down → up changed the schema:\n only after the first up: {gone:#?}\n only after the second: {new:#?}");
    }
    assert!(migrate_up(pool).is_empty(), "nothing left to apply");
}

#[test]
fn migration_folders_have_the_same_names() {
    let pg = migration_names("postgres");
    assert!(!pg.is_empty());
    assert_eq!(pg, migration_names("sqlite"));
    for n in &pg {
        for f in ["up.sql", "down.sql"] {
            for b in ["postgres", "sqlite"] {
                assert!(
                    std::path::Path::new(&format!(
                        "{}/migrations/{b}/{n}/{f}",
                        env!("CARGO_MANIFEST_DIR")
                    ))
                    .exists(),
                    "{b}/{n}/{f}"
                );
            }
        }
    }
}
