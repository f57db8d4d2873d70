//! The store starts without Postgres, fails fast while it is down, recovers
//! by itself when it is back, and never shows the password.

use std::time::{Duration, Instant};

use hubpulse_store::{DatabaseSettings, Store, StoreError};
use hubpulse_testkit::private_postgres;
use secrecy::SecretString;

const PASSWORD: &str = "hunter2-sw0rdfish";

fn settings(url: String) -> DatabaseSettings {
    DatabaseSettings {
        url: SecretString::from(url),
        read_url: None,
        pool_size: 2,
        worker_pool_size: 2,
        connect_timeout_ms: 500,
        acquire_timeout_ms: 1_000,
        statement_timeout_ms: 5_000,
    }
}

#[tokio::test]
async fn starts_while_postgres_is_down_and_recovers_without_a_restart() {
    let mut pg = private_postgres().await;
    pg.stop().await;
    // Trust authentication ignores the password; it is here to be hidden.
    let url = pg
        .database_url()
        .replacen("postgres@", &format!("postgres:{PASSWORD}@"), 1);
    let settings = settings(url);
    assert!(!format!("{settings:?}").contains(PASSWORD));
    let store = Store::connect(&settings).expect("connect does not need Postgres");

    let asked = Instant::now();
    let down = store.readiness().await.unwrap_err();
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "took {:?}",
        asked.elapsed()
    );
    assert!(matches!(down, StoreError::Unavailable(_)), "{down:?}");
    assert!(!down.to_string().contains(PASSWORD));
    let migrating = store.migrate().await.unwrap_err();
    assert!(matches!(migrating, StoreError::Unavailable(_)));

    pg.start().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let pending = loop {
        match store.readiness().await {
            Err(StoreError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => break other,
        }
    };
    assert!(
        matches!(pending, Err(StoreError::MigrationsPending(_))),
        "{pending:?}"
    );
    store.migrate().await.unwrap();
    store.readiness().await.unwrap();
}

#[test]
fn a_bad_url_is_refused_without_echoing_it() {
    let bad = settings(format!("postgres://app:{PASSWORD}@db:notaport/hubpulse"));
    let err = bad.validate().unwrap_err().to_string();
    assert!(err.contains("database.url"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
    let err = Store::connect(&bad).err().expect("refused").to_string();
    assert!(!err.contains(PASSWORD), "{err}");

    let good = settings(format!("postgres://app:{PASSWORD}@db:5432/hubpulse"));
    good.validate().unwrap();
    // A read replica is optional; an empty one (a blank Secret key) is unset,
    // a malformed one refused without echoing it.
    let blank_replica = DatabaseSettings {
        read_url: Some(SecretString::from(String::new())),
        ..good.clone()
    };
    blank_replica.validate().unwrap();
    assert_eq!(blank_replica.read_url(), None);
    let bad_replica = DatabaseSettings {
        read_url: Some(SecretString::from(format!(
            "postgres://app:{PASSWORD}@replica:notaport/hubpulse"
        ))),
        ..good.clone()
    };
    let err = bad_replica.validate().unwrap_err().to_string();
    assert!(err.contains("database.read_url"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
    let zero_workers = DatabaseSettings {
        worker_pool_size: 0,
        ..good.clone()
    };
    assert!(
        zero_workers
            .validate()
            .unwrap_err()
            .to_string()
            .contains("database.worker_pool_size")
    );
    let zero_pool = DatabaseSettings {
        pool_size: 0,
        ..good
    };
    assert!(
        zero_pool
            .validate()
            .unwrap_err()
            .to_string()
            .contains("database.pool_size")
    );
}
