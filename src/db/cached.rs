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
//! Keying by text has a price: the text is written out on every run to look the statement up.
//! Where the text can't change, the hot path keys by type instead: [`Update`] by the types of
//! its table, filter and changes (a changeset of plain assignments has one text per type), and
//! [`Keyed`] by a type named at the call site (for a statement holding a `sql` fragment, which
//! diesel can't key by type). Builds with debug assertions check that a [`Keyed`] statement's
//! text never changes. Diesel's multi-connection wrapper (`DbConn`) writes a statement's whole
//! text on every run as well, so the hot path's statements run on the backend's own connection
//! (`db_run!`).
//!
//! SQLite itself re-prepares a cached statement whose `LIMIT` is a bound parameter every time
//! that parameter is bound (3.50: the value may change the plan), so hot reads by primary key
//! use `get_result`, not diesel's `first` (`LIMIT ?`).

use std::marker::PhantomData;

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
/// fields may skip columns), and found again by its type (`K`: the table's, the filter's and the
/// changes' own ids), so that running it again builds no SQL text. Only for a changeset of plain
/// assignments, whose text is fixed: one with optional fields (`Option<…>`, whose text changes
/// with the values) has no `QueryId` and doesn't compile here.
pub struct Update<F, W, C, K> {
    from: F,
    filter: W,
    changes: C,
    key: PhantomData<fn() -> K>,
}

/// The type an [`Update`] is found again by.
type UpdateKey<T, W, V> = (
    <T as QueryId>::QueryId,
    <W as QueryId>::QueryId,
    <V as QueryId>::QueryId,
);

/// `UPDATE table SET changes WHERE filter`, kept prepared (see [`Update`]).
pub fn update<T, W, V>(
    table: T,
    filter: W,
    changes: V,
) -> Update<T::FromClause, W, V::Changeset, UpdateKey<T, W, V>>
where
    T: Table + QueryId,
    W: QueryId,
    V: AsChangeset<Target = T> + QueryId,
{
    const {
        assert!(
            T::HAS_STATIC_QUERY_ID && W::HAS_STATIC_QUERY_ID && V::HAS_STATIC_QUERY_ID,
            "a kept-prepared UPDATE needs a filter and changes of fixed text"
        )
    };
    Update {
        from: table.from_clause(),
        filter,
        changes: changes.as_changeset(),
        key: PhantomData,
    }
}

impl<F, W, C, K, DB> QueryFragment<DB> for Update<F, W, C, K>
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

impl<F, W, C, K: 'static> QueryId for Update<F, W, C, K> {
    type QueryId = K;
    const HAS_STATIC_QUERY_ID: bool = true;
}

/// A statement of fixed text kept prepared and found again by the type `K` (one per call
/// site) rather than by its text: for a hot statement diesel can't key by type (it holds a
/// `sql` fragment), so that running it again builds no SQL text at all. Only on a backend's own
/// connection (`db_run!`), whose query builder this can check with: in builds with debug
/// assertions every run checks that the text is still the one `K` was first seen with.
pub struct Keyed<K, Q>(Q, PhantomData<fn() -> K>);

/// `query`, kept prepared under the key `K` (see [`Keyed`]).
pub fn keyed<K: 'static, Q>(query: Q) -> Keyed<K, Q> {
    Keyed(query, PhantomData)
}

impl<K: 'static, Q> QueryId for Keyed<K, Q> {
    type QueryId = K;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<K, Q, DB> QueryFragment<DB> for Keyed<K, Q>
where
    K: 'static,
    DB: Backend + Default + 'static,
    DB::QueryBuilder: Default,
    Q: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        #[cfg(debug_assertions)]
        same_text::<K, DB>(&self.0)?;
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<K, Q: Query> Query for Keyed<K, Q> {
    type SqlType = Q::SqlType;
}

impl<K, Q, Conn> diesel::RunQueryDsl<Conn> for Keyed<K, Q> {}

/// Panics if `query`'s text differs from the one first seen under the key `K` on this thread
/// (a [`Keyed`] statement whose text changes would run another statement's prepared text).
#[cfg(debug_assertions)]
fn same_text<K: 'static, DB>(query: &impl QueryFragment<DB>) -> QueryResult<()>
where
    DB: Backend + Default + 'static,
    DB::QueryBuilder: Default,
{
    use diesel::query_builder::QueryBuilder;
    use std::any::TypeId;
    use std::cell::RefCell;
    use std::collections::HashMap;
    thread_local! {
        static SEEN: RefCell<HashMap<(TypeId, TypeId), String>> = RefCell::default();
    }
    let mut builder = DB::QueryBuilder::default();
    query.to_sql(&mut builder, &DB::default())?;
    let text = builder.finish();
    SEEN.with(|seen| {
        let mut seen = seen.borrow_mut();
        let first = seen
            .entry((TypeId::of::<K>(), TypeId::of::<DB>()))
            .or_insert_with(|| text.clone());
        assert_eq!(*first, text, "a keyed statement's text changed");
    });
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::dsl::sql;

    #[test]
    fn each_call_site_keeps_its_own_statement() {
        use diesel::Connection;
        struct One;
        struct Two;
        let mut c = SqliteConnection::establish(":memory:").unwrap();
        // Found again by its key on the second turn: a key shared by both would answer 1 twice.
        for _ in 0..2 {
            let one = keyed::<One, _>(sql::<Integer>("SELECT 1")).get_result::<i32>(&mut c);
            let two = keyed::<Two, _>(sql::<Integer>("SELECT 2")).get_result::<i32>(&mut c);
            assert_eq!((one.unwrap(), two.unwrap()), (1, 2));
        }
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "a keyed statement's text changed")]
    fn a_keyed_statement_whose_text_changes_is_refused() {
        struct Other;
        let _ = diesel::debug_query::<Sqlite, _>(&keyed::<Other, _>(sql::<Integer>("SELECT 1")))
            .to_string();
        let _ = diesel::debug_query::<Sqlite, _>(&keyed::<Other, _>(sql::<Integer>("SELECT 2")))
            .to_string();
    }
}
