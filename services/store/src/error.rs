#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Postgres cannot be reached in time: the API answers 503, jobs retry.
    #[error("postgres is unavailable: {0}")]
    Unavailable(String),
    #[error("migrations pending: {0}")]
    MigrationsPending(String),
    #[error("applying migrations: {0}")]
    Migration(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("database configuration: {0}")]
    Config(String),
    /// A job's write refused because its worker no longer holds the lease.
    #[error("job {0}: the lease is no longer this worker's")]
    LeaseLost(i64),
    /// Displays the server's message and SQLSTATE, never the connection string.
    #[error("database error: {0}")]
    Database(String),
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(err: tokio_postgres::Error) -> Self {
        if let Some(db) = err.as_db_error() {
            let code = db.code();
            if code == &tokio_postgres::error::SqlState::UNIQUE_VIOLATION {
                return Self::Conflict(db.message().to_owned());
            }
            // Connection exceptions (08), shutdown or admin termination (57P),
            // too many connections (53), failed authentication (28): the
            // server is there but will not serve us now.
            if ["08", "57P", "53", "28"]
                .iter()
                .any(|class| code.code().starts_with(class))
            {
                return Self::Unavailable(db.message().to_owned());
            }
            return Self::Database(format!("{} ({})", db.message(), code.code()));
        }
        let io = std::error::Error::source(&err).is_some_and(|s| s.is::<std::io::Error>());
        if err.is_closed() || io {
            // tokio-postgres never puts the connection string in its messages.
            Self::Unavailable(err.to_string())
        } else {
            // Conversions and protocol errors: a bug here, not an outage.
            Self::Database(err.to_string())
        }
    }
}

impl From<bb8::RunError<tokio_postgres::Error>> for StoreError {
    fn from(err: bb8::RunError<tokio_postgres::Error>) -> Self {
        match err {
            bb8::RunError::TimedOut => {
                Self::Unavailable("timed out waiting for a connection".into())
            }
            bb8::RunError::User(err) => Self::from(err),
        }
    }
}
