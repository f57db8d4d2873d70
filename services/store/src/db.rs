//! What every store function runs on. A function takes `&impl Db`, so the
//! caller decides: a pooled connection for one statement, or an open
//! transaction when a job's rows, the jobs it enqueues and its outbox rows
//! must commit (or roll back) together.

use bb8_postgres::PostgresConnectionManager;
use tokio_postgres::{Client, GenericClient, NoTls, Transaction};

/// A pooled connection, a plain client or an open transaction (a savepoint
/// inside one included).
///
/// Functions that need several statements to land together take a
/// [`Transaction`] instead, so they cannot be handed a bare connection.
pub trait Db: Send + Sync {
    type Client: GenericClient + Send + Sync;

    fn client(&self) -> &Self::Client;
}

impl Db for Client {
    type Client = Client;

    fn client(&self) -> &Client {
        self
    }
}

impl Db for Transaction<'_> {
    type Client = Self;

    fn client(&self) -> &Self {
        self
    }
}

impl Db for bb8::PooledConnection<'_, PostgresConnectionManager<NoTls>> {
    type Client = Client;

    fn client(&self) -> &Client {
        self
    }
}
