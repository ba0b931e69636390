//! Reading (and, for tamper tests, writing) the database behind the API with plain SQL, into
//! row types owned by the tests. Only the table and column names of the migrations are
//! shared with the application, never its row structs or query code, so a refactoring of
//! `src/db` can't silently change what these checks see. Values are inlined as quoted
//! literals ([`lit`]); the tests only ever pass ids and fixed strings.

use chrono::NaiveDateTime;
use diesel::deserialize::QueryableByName;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};
use diesel::sqlite::Sqlite;

use landx::db::{DbConn, Pool};

/// The table diesel keeps its migration bookkeeping in.
pub const DIESEL_TABLE: &str = "__diesel_schema_migrations";

/// A SQL string literal.
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Runs `sql` on the pool's backend and loads its rows.
pub fn load<T>(pool: &Pool, sql: &str) -> Vec<T>
where
    T: QueryableByName<Pg> + QueryableByName<Sqlite> + 'static,
{
    let mut conn = pool.get().expect("a pooled connection");
    let rows = match &mut *conn {
        DbConn::Pg(c) => diesel::sql_query(sql).load::<T>(c),
        DbConn::Sqlite(c) => diesel::sql_query(sql).load::<T>(c),
    };
    rows.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Runs SQL statements (tamper tests, database outages).
pub fn exec(pool: &Pool, sql: &str) {
    use diesel::connection::SimpleConnection;
    let mut conn = pool.get().expect("a pooled connection");
    conn.batch_execute(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

pub fn is_postgres(pool: &Pool) -> bool {
    let conn = pool.get().expect("a pooled connection");
    matches!(&*conn, DbConn::Pg(_))
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

/// `SELECT COUNT(*) FROM table WHERE cond`.
pub fn count(pool: &Pool, table: &str, cond: &str) -> i64 {
    load::<Count>(
        pool,
        &format!("SELECT COUNT(*) AS n FROM {table} WHERE {cond}"),
    )[0]
    .n
}

/// The single BIGINT column `n` of the single row of `sql`.
pub fn scalar(pool: &Pool, sql: &str) -> i64 {
    load::<Count>(pool, sql)[0].n
}

/// The text column `line` of every row of `sql`.
pub fn lines(pool: &Pool, sql: &str) -> Vec<String> {
    load::<Line>(pool, sql)
        .into_iter()
        .map(|l| l.line)
        .collect()
}

// ---- rows the tests look at -------------------------------------------------------------------

/// A message of the outbox.
#[derive(Debug, Clone, QueryableByName)]
pub struct Mail {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub to_addr: String,
    #[diesel(sql_type = Text)]
    pub subject: String,
    #[diesel(sql_type = Text)]
    pub body: String,
    #[diesel(sql_type = BigInt)]
    pub attempts: i64,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub sent_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
}

pub fn outbox(pool: &Pool) -> Vec<Mail> {
    load(
        pool,
        "SELECT id, to_addr, subject, body, attempts, sent_at, last_error FROM outbox ORDER BY id",
    )
}

/// A record of the audit log, every column.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct Audit {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub stream: String,
    #[diesel(sql_type = BigInt)]
    pub seq: i64,
    #[diesel(sql_type = Text)]
    pub prev_hash: String,
    #[diesel(sql_type = Text)]
    pub hash: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub actor_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub actor_role: Option<String>,
    #[diesel(sql_type = Text)]
    pub action: String,
    #[diesel(sql_type = Text)]
    pub entity_type: String,
    #[diesel(sql_type = Text)]
    pub entity_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub from_state: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub to_state: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub reason: Option<String>,
    #[diesel(sql_type = Timestamp)]
    pub created_at: NaiveDateTime,
}

const AUDIT_COLUMNS: &str = "id, stream, seq, prev_hash, hash, actor_id, actor_role, action, \
     entity_type, entity_id, from_state, to_state, reason, created_at";

/// Audit records matching `cond`, by id (creation order).
pub fn audit_where(pool: &Pool, cond: &str) -> Vec<Audit> {
    load(
        pool,
        &format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE {cond} ORDER BY id"),
    )
}

/// One stream's records in stream order.
pub fn audit_stream(pool: &Pool, stream: &str) -> Vec<Audit> {
    load(
        pool,
        &format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE stream = {} ORDER BY seq",
            lit(stream)
        ),
    )
}

/// An accepted bid.
#[derive(Debug, Clone, QueryableByName)]
pub struct BidRow {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub registration_id: String,
    #[diesel(sql_type = BigInt)]
    pub seq: i64,
    #[diesel(sql_type = BigInt)]
    pub bidder_no: i64,
    #[diesel(sql_type = BigInt)]
    pub amount_fen: i64,
    #[diesel(sql_type = Bool)]
    pub priority: bool,
    #[diesel(sql_type = Timestamp)]
    pub placed_at: NaiveDateTime,
}

/// The bids of a listing in acceptance order.
pub fn bids_of(pool: &Pool, listing: &str) -> Vec<BidRow> {
    load(
        pool,
        &format!(
            "SELECT id, registration_id, seq, bidder_no, amount_fen, priority, placed_at \
             FROM bids WHERE listing_id = {} ORDER BY seq",
            lit(listing)
        ),
    )
}

/// A deal (one offer to one bidder).
#[derive(Debug, Clone, QueryableByName)]
pub struct DealRow {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub registration_id: String,
    #[diesel(sql_type = BigInt)]
    pub round: i64,
    #[diesel(sql_type = Bool)]
    pub negotiated: bool,
    #[diesel(sql_type = Text)]
    pub confirmation_no: String,
    #[diesel(sql_type = BigInt)]
    pub price_fen: i64,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Timestamp)]
    pub awarded_at: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    pub confirm_by: NaiveDateTime,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub fell_through_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Text>)]
    pub fall_reason: Option<String>,
}

/// The deals of a listing by round.
pub fn deals_of(pool: &Pool, listing: &str) -> Vec<DealRow> {
    load(
        pool,
        &format!(
            "SELECT id, registration_id, round, negotiated, confirmation_no, price_fen, status, \
             awarded_at, confirm_by, fell_through_at, fall_reason \
             FROM deals WHERE listing_id = {} ORDER BY round",
            lit(listing)
        ),
    )
}

// ---- the schema ---------------------------------------------------------------------------------

/// The application's tables (without diesel's bookkeeping), sorted.
pub fn tables(pool: &Pool) -> Vec<String> {
    let sql = if is_postgres(pool) {
        format!(
            "SELECT tablename AS line FROM pg_tables WHERE schemaname = current_schema() \
             AND tablename <> '{DIESEL_TABLE}' ORDER BY tablename"
        )
    } else {
        format!(
            "SELECT name AS line FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name <> '{DIESEL_TABLE}' ORDER BY name"
        )
    };
    lines(pool, &sql)
}

/// Every row of `table` as one line of text holding every column (for "this value is
/// stored nowhere in clear" checks that also cover columns added later).
pub fn rows_as_text(pool: &Pool, table: &str) -> Vec<String> {
    if is_postgres(pool) {
        lines(
            pool,
            &format!("SELECT CAST(t AS TEXT) AS line FROM {table} t"),
        )
    } else {
        let columns = lines(
            pool,
            &format!("SELECT name AS line FROM pragma_table_info({})", lit(table)),
        );
        assert!(!columns.is_empty(), "no table {table}");
        let joined: Vec<String> = columns
            .iter()
            .map(|c| format!("COALESCE(CAST(\"{c}\" AS TEXT), 'NULL')"))
            .collect();
        lines(
            pool,
            &format!(
                "SELECT {} AS line FROM {table}",
                joined.join(" || ' | ' || ")
            ),
        )
    }
}

/// What the migrations built, as sorted lines: SQLite's stored `sql` of every table, index
/// and trigger; PostgreSQL's columns (type, nullability, default), indexes, constraints,
/// relations, functions, triggers and types. Diesel's own table is left out.
pub fn schema_dump(pool: &Pool) -> Vec<String> {
    let queries: Vec<String> = if is_postgres(pool) {
        let d = DIESEL_TABLE;
        vec![
            format!(
                "SELECT format('column %s.%s #%s %s %s null=%s default=%s len=%s', \
                 table_name, column_name, ordinal_position, data_type, udt_name, is_nullable, \
                 coalesce(column_default, '-'), coalesce(character_maximum_length::text, '-')) \
                 AS line FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name <> '{d}'"
            ),
            format!(
                "SELECT format('index %s on %s: %s', indexname, tablename, indexdef) AS line \
                 FROM pg_indexes WHERE schemaname = current_schema() AND tablename <> '{d}'"
            ),
            format!(
                "SELECT format('constraint %s on %s: %s %s', c.conname, t.relname, c.contype, \
                 pg_get_constraintdef(c.oid)) AS line FROM pg_constraint c \
                 JOIN pg_class t ON t.oid = c.conrelid \
                 JOIN pg_namespace n ON n.oid = t.relnamespace \
                 WHERE n.nspname = current_schema() AND t.relname <> '{d}'"
            ),
            format!(
                "SELECT format('relation %s %s', c.relkind, c.relname) AS line FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relkind <> 'i' \
                 AND c.relname <> '{d}' AND c.relname NOT LIKE '{d}%'"
            ),
            "SELECT format('function %s(%s)', p.proname, \
             pg_get_function_identity_arguments(p.oid)) AS line FROM pg_proc p \
             JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = current_schema()"
                .to_string(),
            "SELECT format('trigger %s on %s', t.tgname, c.relname) AS line FROM pg_trigger t \
             JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND NOT t.tgisinternal"
                .to_string(),
            "SELECT format('type %s %s', t.typname, t.typtype) AS line FROM pg_type t \
             JOIN pg_namespace n ON n.oid = t.typnamespace \
             WHERE n.nspname = current_schema() AND t.typtype IN ('e', 'd', 'r', 'm')"
                .to_string(),
        ]
    } else {
        vec![format!(
            "SELECT type || ' ' || name || ' on ' || tbl_name || ': ' || COALESCE(sql, '') \
             AS line FROM sqlite_master WHERE name <> 'sqlite_sequence' \
             AND name NOT LIKE 'sqlite_stat%' AND tbl_name <> '{DIESEL_TABLE}'"
        )]
    };
    let mut out: Vec<String> = queries.iter().flat_map(|q| lines(pool, q)).collect();
    out.sort();
    out
}

/// How many migrations diesel records as applied.
pub fn applied_migrations(pool: &Pool) -> i64 {
    count(pool, DIESEL_TABLE, "1 = 1")
}

// ---- stopping the server at a chosen point (Idempotency-Key) ---------------------------------

/// From now on the database refuses to store an `Idempotency-Key` response (any HTTP status
/// written to the key's row): what a server that stops right after the action's commit
/// leaves behind. [`store_answers_again`] undoes it.
pub fn lose_idempotent_answers(pool: &Pool) {
    if is_postgres(pool) {
        exec(
            pool,
            "CREATE FUNCTION test_lose_answer() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN RAISE EXCEPTION 'the server stopped before storing the answer'; END $$; \
             CREATE TRIGGER test_lose_answer BEFORE UPDATE ON idempotency_keys FOR EACH ROW \
             WHEN (NEW.status >= 100) EXECUTE FUNCTION test_lose_answer();",
        );
    } else {
        exec(
            pool,
            "CREATE TRIGGER test_lose_answer BEFORE UPDATE ON idempotency_keys \
             WHEN NEW.status >= 100 BEGIN \
             SELECT RAISE(ABORT, 'the server stopped before storing the answer'); END;",
        );
    }
}

pub fn store_answers_again(pool: &Pool) {
    if is_postgres(pool) {
        exec(
            pool,
            "DROP TRIGGER test_lose_answer ON idempotency_keys; DROP FUNCTION test_lose_answer();",
        );
    } else {
        exec(pool, "DROP TRIGGER test_lose_answer;");
    }
}

/// From now on every new `Idempotency-Key` claim is moved one second back in time as soon
/// as it is made: to its request, the claim looks taken over by a retry (a retry that takes
/// over an abandoned claim stamps it anew).
pub fn take_over_every_new_claim(pool: &Pool) {
    if is_postgres(pool) {
        exec(
            pool,
            "CREATE FUNCTION test_take_over() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN NEW.created_at := NEW.created_at - INTERVAL '1 second'; RETURN NEW; END $$; \
             CREATE TRIGGER test_take_over BEFORE INSERT ON idempotency_keys FOR EACH ROW \
             EXECUTE FUNCTION test_take_over();",
        );
    } else {
        exec(
            pool,
            "CREATE TRIGGER test_take_over AFTER INSERT ON idempotency_keys BEGIN \
             UPDATE idempotency_keys SET created_at = '2000-01-01 00:00:00' \
             WHERE user_id = NEW.user_id AND key = NEW.key; END;",
        );
    }
}

/// The stored status of each `Idempotency-Key` row (NULL as -1).
pub fn idempotency_statuses(pool: &Pool) -> Vec<i64> {
    load::<Count>(
        pool,
        "SELECT COALESCE(status, -1) AS n FROM idempotency_keys ORDER BY created_at",
    )
    .into_iter()
    .map(|c| c.n)
    .collect()
}
