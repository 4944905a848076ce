//! [`Db`]: the database handle every part of Confab uses, with SQLite's one write discipline
//! built in.
//!
//! SQLite has one writer at a time. A writer that meets the lock sleeps in SQLite's busy handler
//! on a pool thread, and a deferred transaction that read before another connection committed
//! cannot write at all (`SQLITE_BUSY`, "database is locked", at once, whatever the timeout). So
//! on SQLite every write in this process queues on one in-process [`WriteGate`] first: a
//! transaction holds it from `BEGIN` to `COMMIT`, a statement outside a transaction that may
//! write holds it while it runs, and the metering connection takes the same gate. A writer then
//! never meets a held lock: a busy database is a wait in a fair queue, never an error. Reads take
//! no gate (WAL readers never wait for the writer). On PostgreSQL the gate is empty and costs
//! nothing.

use std::pin::Pin;

use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    ExecResult, IsolationLevel, QueryResult, Statement, TransactionError, TransactionOptions,
    TransactionSession, TransactionTrait,
};
use tokio::sync::OwnedMutexGuard;

use crate::WriteGate;

/// What a connection pool holds at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUse {
    /// Connections open.
    pub open: u32,
    /// Of those, the ones no query holds.
    pub idle: u32,
}

/// The connection pool and the write gate it shares with every other writer of the process.
#[derive(Clone, Debug)]
pub struct Db {
    connection: DatabaseConnection,
    gate: WriteGate,
}

impl Db {
    pub fn new(connection: DatabaseConnection, gate: WriteGate) -> Self {
        Self { connection, gate }
    }

    /// The pool itself, for what runs before any concurrency (migrations) and for reads that
    /// need no gate.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.connection
    }

    /// Connections the pool holds now, and how many of them are idle (for metrics).
    pub fn pool_use(&self) -> PoolUse {
        use sea_orm::DatabaseBackend;
        let (open, idle) = match self.connection.get_database_backend() {
            DatabaseBackend::Postgres => {
                let pool = self.connection.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
            _ => {
                let pool = self.connection.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
        };
        PoolUse {
            open,
            idle: u32::try_from(idle).unwrap_or(u32::MAX),
        }
    }

    /// The gate writers outside the pool (SQLite's metering connection) take too.
    pub fn gate(&self) -> &WriteGate {
        &self.gate
    }

    async fn enter_if_writing(&self, sql: &str) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        if may_write(sql) {
            self.gate.enter().await
        } else {
            None
        }
    }

    async fn gated_begin(&self, options: TransactionOptions) -> Result<DbTransaction, DbErr> {
        // The gate first: a writer waiting for it holds no pooled connection.
        let guard = self.gate.enter_owned().await;
        let transaction = self.connection.begin_with_options(options).await?;
        Ok(DbTransaction {
            transaction,
            _guard: guard,
        })
    }
}

/// Whether a statement may change the database (anything but a plain `SELECT`, `PRAGMA` reads
/// aside: a `WITH` can hold an `UPDATE`).
fn may_write(sql: &str) -> bool {
    let head = sql.trim_start().get(..6).unwrap_or("");
    !head.eq_ignore_ascii_case("select")
}

#[async_trait::async_trait]
impl ConnectionTrait for Db {
    fn get_database_backend(&self) -> DbBackend {
        self.connection.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let _gate = self.gate.enter().await;
        self.connection.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let _gate = self.enter_if_writing(sql).await;
        self.connection.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let _gate = self.enter_if_writing(&stmt.sql).await;
        self.connection.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let _gate = self.enter_if_writing(&stmt.sql).await;
        self.connection.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.connection.support_returning()
    }
}

/// A transaction that holds the write gate until it commits, rolls back or is dropped.
/// Savepoints inside it ([`TransactionTrait::begin`] on it) hold nothing more.
pub struct DbTransaction {
    transaction: DatabaseTransaction,
    _guard: Option<OwnedMutexGuard<()>>,
}

impl std::fmt::Debug for DbTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbTransaction").finish_non_exhaustive()
    }
}

impl DbTransaction {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.transaction.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.transaction.rollback().await
    }

    async fn savepoint(&self, options: TransactionOptions) -> Result<DbTransaction, DbErr> {
        Ok(DbTransaction {
            transaction: self.transaction.begin_with_options(options).await?,
            _guard: None,
        })
    }
}

#[async_trait::async_trait]
impl TransactionSession for DbTransaction {
    async fn commit(self) -> Result<(), DbErr> {
        self.transaction.commit().await
    }

    async fn rollback(self) -> Result<(), DbErr> {
        self.transaction.rollback().await
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for DbTransaction {
    fn get_database_backend(&self) -> DbBackend {
        self.transaction.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.transaction.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.transaction.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.transaction.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.transaction.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.transaction.support_returning()
    }
}

fn options(
    isolation_level: Option<IsolationLevel>,
    access_mode: Option<AccessMode>,
) -> TransactionOptions {
    TransactionOptions {
        isolation_level,
        access_mode,
        sqlite_transaction_mode: None,
    }
}

type Callback<'c, T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>;

/// Runs `callback` in `transaction`: commit on `Ok`, roll back on `Err`.
async fn run_in<T, E, F>(transaction: DbTransaction, callback: F) -> Result<T, TransactionError<E>>
where
    F: for<'c> FnOnce(&'c DbTransaction) -> Callback<'c, T, E> + Send,
    T: Send,
    E: std::fmt::Display + std::fmt::Debug + Send,
{
    let result = callback(&transaction).await;
    match result {
        Ok(value) => {
            transaction
                .commit()
                .await
                .map_err(TransactionError::Connection)?;
            Ok(value)
        }
        Err(error) => {
            transaction
                .rollback()
                .await
                .map_err(TransactionError::Connection)?;
            Err(TransactionError::Transaction(error))
        }
    }
}

macro_rules! transaction_trait {
    ($type:ty, $begin:ident) => {
        #[async_trait::async_trait]
        impl TransactionTrait for $type {
            type Transaction = DbTransaction;

            async fn begin(&self) -> Result<DbTransaction, DbErr> {
                self.$begin(TransactionOptions::default()).await
            }

            async fn begin_with_config(
                &self,
                isolation_level: Option<IsolationLevel>,
                access_mode: Option<AccessMode>,
            ) -> Result<DbTransaction, DbErr> {
                self.$begin(options(isolation_level, access_mode)).await
            }

            async fn begin_with_options(
                &self,
                options: TransactionOptions,
            ) -> Result<DbTransaction, DbErr> {
                self.$begin(options).await
            }

            async fn transaction<F, T, E>(&self, callback: F) -> Result<T, TransactionError<E>>
            where
                F: for<'c> FnOnce(&'c DbTransaction) -> Callback<'c, T, E> + Send,
                T: Send,
                E: std::fmt::Display + std::fmt::Debug + Send,
            {
                let transaction = self
                    .$begin(TransactionOptions::default())
                    .await
                    .map_err(TransactionError::Connection)?;
                run_in(transaction, callback).await
            }

            async fn transaction_with_config<F, T, E>(
                &self,
                callback: F,
                isolation_level: Option<IsolationLevel>,
                access_mode: Option<AccessMode>,
            ) -> Result<T, TransactionError<E>>
            where
                F: for<'c> FnOnce(&'c DbTransaction) -> Callback<'c, T, E> + Send,
                T: Send,
                E: std::fmt::Display + std::fmt::Debug + Send,
            {
                let transaction = self
                    .$begin(options(isolation_level, access_mode))
                    .await
                    .map_err(TransactionError::Connection)?;
                run_in(transaction, callback).await
            }
        }
    };
}

transaction_trait!(Db, gated_begin);
transaction_trait!(DbTransaction, savepoint);

#[cfg(test)]
mod tests {
    use super::may_write;

    #[test]
    fn only_plain_selects_skip_the_gate() {
        assert!(!may_write("SELECT 1"));
        assert!(!may_write("  select * from users"));
        assert!(may_write("INSERT INTO x VALUES (1) RETURNING id"));
        assert!(may_write(
            "WITH a AS (UPDATE x SET y = 1 RETURNING id) SELECT * FROM a"
        ));
        assert!(may_write("UPDATE x SET y = 1"));
        assert!(may_write(""));
    }
}
