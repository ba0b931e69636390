//! Statements kept prepared that diesel would prepare afresh on every run.
//!
//! Diesel caches a prepared statement per connection only when the query says it is safe to,
//! and it says so for no UPDATE (a changeset with optional fields may skip columns: the SQL can
//! change while the query's type stays the same) and, on PostgreSQL, for no INSERT of a row
//! with optional fields (`DEFAULT` for a missing value). Such a statement is parsed and
//! planned again on every run: on SQLite a full `sqlite3_prepare` per statement, on PostgreSQL
//! a parse and plan on the server per statement.
//!
//! [`Cached`] keys such a statement by its SQL text (and bind types) instead of its type, which
//! is always correct: the same text is the same statement. It must only wrap statements whose
//! text takes a bounded number of forms (no `eq_any` over a list of varying length), since the
//! cache keeps every text it sees for the connection's life. The hot paths use it (a bid's
//! writes, the audit trail's append).
//!
//! Diesel asks a statement whether it may be cached through a reference when the statement is
//! *executed* (`execute`), and a reference doesn't forward the question: [`Cached`] only works
//! for statements *loaded* (run by value). So writes take other roads: [`write_pg`] loads its
//! statements as one `WITH … SELECT 1`; [`write_sqlite`] executes an INSERT (cacheable as it is
//! on SQLite) or an [`Update`] (diesel's UPDATE without the refusal).
//!
//! SQLite itself re-prepares a cached statement whose `LIMIT` is a bound parameter every time
//! that parameter is bound (3.50: the value may change the plan), so hot reads by primary key
//! use `get_result`, not diesel's `first` (`LIMIT ?`).

use diesel::backend::Backend;
use diesel::pg::Pg;
use diesel::query_builder::{AsChangeset, AstPass, Query, QueryFragment, QueryId};
use diesel::query_source::Table;
use diesel::sql_types::Integer;
use diesel::sqlite::Sqlite;
use diesel::{PgConnection, QueryResult, RunQueryDsl, SqliteConnection};

/// A statement of fixed shape, prepared once per connection and reused (keyed by its text),
/// when loaded (see the module's documentation).
#[derive(Debug, Clone, Copy)]
pub struct Cached<Q>(pub Q);

impl<Q> QueryId for Cached<Q> {
    type QueryId = ();
    // Keyed by the SQL text, never by the type (see the module's documentation).
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q, DB> QueryFragment<DB> for Cached<Q>
where
    DB: Backend,
    Q: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q: Query> Query for Cached<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, Conn> diesel::RunQueryDsl<Conn> for Cached<Q> {}

/// An UPDATE of `table`'s rows matching `filter`, written as diesel writes one but without
/// declaring itself uncacheable (diesel's own does so for any changeset, since one with optional
/// fields may skip columns). Only for a changeset of plain assignments: its text is fixed.
pub struct Update<F, W, C> {
    from: F,
    filter: W,
    changes: C,
}

/// `UPDATE table SET changes WHERE filter`, kept prepared (see [`Update`]).
pub fn update<T, W, V>(table: T, filter: W, changes: V) -> Update<T::FromClause, W, V::Changeset>
where
    T: Table,
    V: AsChangeset<Target = T>,
{
    Update {
        from: table.from_clause(),
        filter,
        changes: changes.as_changeset(),
    }
}

impl<F, W, C, DB> QueryFragment<DB> for Update<F, W, C>
where
    DB: Backend,
    F: QueryFragment<DB>,
    W: QueryFragment<DB>,
    C: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE ");
        self.from.walk_ast(out.reborrow())?;
        out.push_sql(" SET ");
        self.changes.walk_ast(out.reborrow())?;
        out.push_sql(" WHERE ");
        self.filter.walk_ast(out.reborrow())
    }
}

impl<F, W, C> QueryId for Update<F, W, C> {
    type QueryId = ();
    // Keyed by its text.
    const HAS_STATIC_QUERY_ID: bool = false;
}

/// SQLite: runs one write kept prepared — an INSERT of a row (SQLite's are cacheable as they
/// are) or an [`Update`]; the rows it wrote.
pub fn write_sqlite(
    conn: &mut SqliteConnection,
    statement: impl QueryFragment<Sqlite> + QueryId,
) -> QueryResult<usize> {
    diesel::query_dsl::methods::ExecuteDsl::execute(statement, conn)
}

/// PostgreSQL: runs several writes kept prepared as one statement, in one round trip: each in a
/// `WITH` (it runs once and to completion, on the transaction's snapshot). For writes that
/// don't read each other's rows: different tables, or rows the transaction has locked already.
pub fn write_pg(conn: &mut PgConnection, statements: &[&dyn QueryFragment<Pg>]) -> QueryResult<()> {
    Cached(Together(statements)).load::<i32>(conn)?;
    Ok(())
}

struct Together<'a>(&'a [&'a dyn QueryFragment<Pg>]);

impl QueryFragment<Pg> for Together<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        for (i, statement) in self.0.iter().enumerate() {
            out.push_sql(if i == 0 { "WITH " } else { ", " });
            out.push_sql(&format!("w{i} AS ("));
            statement.walk_ast(out.reborrow())?;
            out.push_sql(")");
        }
        out.push_sql(" SELECT 1");
        Ok(())
    }
}

impl Query for Together<'_> {
    type SqlType = Integer;
}
