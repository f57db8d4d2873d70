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
    /// Displays the server's message and SQLSTATE, never the connection string.
    #[error("database error: {0}")]
    Database(String),
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(err: tokio_postgres::Error) -> Self {
        match err.as_db_error() {
            Some(db) if db.code() == &tokio_postgres::error::SqlState::UNIQUE_VIOLATION => {
                Self::Conflict(db.message().to_owned())
            }
            Some(db)
                if db.code().code().starts_with("57P") || db.code().code().starts_with("08") =>
            {
                Self::Unavailable(db.message().to_owned())
            }
            Some(db) => Self::Database(format!("{} ({})", db.message(), db.code().code())),
            None if err.is_closed() => Self::Unavailable("connection closed".into()),
            None => Self::Unavailable(err.to_string()),
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
