//! `hubpulse-bench graphgen`: loads the synthetic graph (`graphgen`) into
//! the tables the lists read, as a bulk load is done: in one transaction,
//! the tables' secondary indexes and foreign keys dropped (their
//! definitions read from the catalog first), the rows streamed with COPY
//! while the generator runs on a thread of its own, then the indexes built
//! and the foreign keys validated again from those same definitions, and
//! `VACUUM (ANALYZE)`, as autovacuum would after so many inserts. A failure
//! rolls everything back; an earlier synthetic graph is deleted first.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use bytes::Bytes;
use chrono::Utc;
use futures::SinkExt;
use serde::{Deserialize, Serialize};
use tokio_postgres::{Client, NoTls, Transaction};

use crate::bench::Target;
use crate::graphgen::{Graph, GraphShape, ID_BASE};
use crate::graphrows as rows;

/// The load may take this long at most on the bench machine (2 cores):
/// minutes, not hours.
pub const MAX_LOAD_SECS: f64 = 1800.0;

/// The tables written, parents first.
const TABLES: &[&str] = &[
    "developers",
    "developer_logins",
    "owners",
    "repositories",
    "repository_graph",
    "follows",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GraphLoad {
    pub developers: u64,
    pub repositories: u64,
    pub owners: u64,
    pub edges: u64,
    pub seed: u64,
    /// Drawing the edges (before any row is written).
    pub generate_seconds: f64,
    /// COPY of every table (rows generated meanwhile).
    pub copy_seconds: f64,
    /// Building the indexes and validating the foreign keys again.
    pub index_seconds: f64,
    pub vacuum_seconds: f64,
    /// All of it, from the first query to the end of the VACUUM.
    pub seconds: f64,
}

/// Streams `count` rows written by `write` into `sql` (a `COPY ... FROM
/// STDIN`), a megabyte at a time, generated on a blocking thread.
async fn copy<F>(
    tx: &Transaction<'_>,
    sql: &str,
    count: u64,
    graph: Arc<Graph>,
    write: F,
) -> anyhow::Result<()>
where
    F: Fn(&Graph, u64, &mut Vec<u8>) + Send + 'static,
{
    const CHUNK: usize = 1 << 20;
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Bytes>(8);
    let producer = tokio::task::spawn_blocking(move || {
        let mut buf = Vec::with_capacity(CHUNK + 4096);
        for n in 0..count {
            write(graph.as_ref(), n, &mut buf);
            if buf.len() >= CHUNK {
                let full = std::mem::replace(&mut buf, Vec::with_capacity(CHUNK + 4096));
                if sender.blocking_send(Bytes::from(full)).is_err() {
                    return;
                }
            }
        }
        if !buf.is_empty() {
            let _ = sender.blocking_send(Bytes::from(buf));
        }
    });
    let sink = tx
        .copy_in::<_, Bytes>(sql)
        .await
        .with_context(|| sql.to_owned())?;
    let mut sink = std::pin::pin!(sink);
    while let Some(chunk) = receiver.recv().await {
        sink.send(chunk).await.with_context(|| sql.to_owned())?;
    }
    producer.await.context("the row generator")?;
    sink.finish().await.with_context(|| sql.to_owned())?;
    Ok(())
}

/// Statements that drop the tables' secondary indexes (not those of a
/// primary key or unique constraint) and foreign keys, and those that put
/// them back, from the catalog.
async fn dependents(tx: &Transaction<'_>) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let tables: Vec<&str> = TABLES.to_vec();
    let indexes = tx
        .query(
            "SELECT format('DROP INDEX %s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid) \
             FROM pg_index i WHERE i.indrelid = ANY($1::text[]::regclass[]) \
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid \
                             AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x'))",
            &[&tables],
        )
        .await?;
    let keys = tx
        .query(
            "SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname), \
                    format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname, \
                           pg_get_constraintdef(oid)) \
             FROM pg_constraint WHERE contype = 'f' AND conrelid = ANY($1::text[]::regclass[])",
            &[&tables],
        )
        .await?;
    let mut drop = Vec::new();
    let mut restore = Vec::new();
    for row in keys.iter().chain(indexes.iter()) {
        drop.push(row.get(0));
    }
    // Indexes first: validating a foreign key reads the referenced keys.
    for row in indexes.iter().chain(keys.iter()) {
        restore.push(row.get(1));
    }
    Ok((drop, restore))
}

pub async fn load(database_url: &str, shape: GraphShape) -> anyhow::Result<GraphLoad> {
    anyhow::ensure!(
        shape.developers >= 2 && shape.developers < 1_000_000_000,
        "developers: 2 to 999,999,999"
    );
    anyhow::ensure!(
        shape.repositories < 1_000_000_000,
        "repositories: under 1,000,000,000"
    );
    let started = Instant::now();
    let (mut db, connection) = tokio_postgres::connect(database_url, NoTls)
        .await
        .context("connecting to Postgres")?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let graph = Arc::new(
        tokio::task::spawn_blocking(move || Graph::generate(shape))
            .await
            .context("generating the graph")?,
    );
    let generate_seconds = started.elapsed().as_secs_f64();
    let owners = graph.owned.iter().filter(|&&n| n > 0).count() as u64;
    let edges = graph.followees.len() as u64;

    let copy_started = Instant::now();
    let tx = db.transaction().await?;
    tx.batch_execute("SET LOCAL maintenance_work_mem = '256MB'")
        .await?;
    for sql in [
        "DELETE FROM follows WHERE follower_id > $1 OR followee_id > $1",
        "DELETE FROM developer_logins WHERE developer_id > $1",
        "DELETE FROM repositories WHERE id > $1",
        "DELETE FROM owners WHERE id > $1",
        "DELETE FROM developers WHERE id > $1",
    ] {
        tx.execute(sql, &[&ID_BASE]).await.context(sql)?;
    }
    let (drop, restore) = dependents(&tx).await?;
    for sql in &drop {
        tx.batch_execute(sql).await.with_context(|| sql.clone())?;
    }
    let now = Utc::now();
    let d = shape.developers;
    let r = shape.repositories;
    copy(
        &tx,
        &format!("COPY developers ({}) FROM STDIN", rows::DEVELOPER_COLUMNS),
        d,
        graph.clone(),
        move |g, n, out| rows::developer(out, g, n, now),
    )
    .await?;
    copy(
        &tx,
        &format!("COPY developer_logins ({}) FROM STDIN", rows::LOGIN_COLUMNS),
        d,
        graph.clone(),
        |g, n, out| rows::logins(out, g.shape.seed, n),
    )
    .await?;
    copy(
        &tx,
        &format!("COPY owners ({}) FROM STDIN", rows::OWNER_COLUMNS),
        d,
        graph.clone(),
        |g, n, out| {
            if g.owned[n as usize] > 0 {
                rows::owner(out, g.shape.seed, n)
            }
        },
    )
    .await?;
    let spread = Graph::owner_spread(&shape);
    copy(
        &tx,
        &format!(
            "COPY repositories ({}) FROM STDIN",
            rows::REPOSITORY_COLUMNS
        ),
        r,
        graph.clone(),
        move |g, k, out| rows::repository(out, g, k, Graph::owner(&g.shape, &spread, k)),
    )
    .await?;
    copy(
        &tx,
        &format!(
            "COPY repository_graph ({}) FROM STDIN",
            rows::REPOSITORY_GRAPH_COLUMNS
        ),
        r,
        graph.clone(),
        move |g, k, out| rows::repository_graph(out, g.shape.seed, k, now),
    )
    .await?;
    copy(
        &tx,
        &format!("COPY follows ({}) FROM STDIN", rows::FOLLOW_COLUMNS),
        d,
        graph.clone(),
        |g, f, out| rows::follows(out, g, f),
    )
    .await?;
    let copy_seconds = copy_started.elapsed().as_secs_f64();

    let index_started = Instant::now();
    for sql in &restore {
        tx.batch_execute(sql).await.with_context(|| sql.clone())?;
    }
    tx.commit().await?;
    let index_seconds = index_started.elapsed().as_secs_f64();

    let vacuum_started = Instant::now();
    vacuum(&db).await?;
    Ok(GraphLoad {
        developers: d,
        repositories: r,
        owners,
        edges,
        seed: shape.seed,
        generate_seconds,
        copy_seconds,
        index_seconds,
        vacuum_seconds: vacuum_started.elapsed().as_secs_f64(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

async fn vacuum(db: &Client) -> anyhow::Result<()> {
    for table in TABLES {
        let sql = format!("VACUUM (ANALYZE) {table}");
        db.batch_execute(&sql).await.context(sql)?;
    }
    Ok(())
}

pub fn targets(l: &GraphLoad) -> Vec<Target> {
    vec![Target {
        name: format!(
            "graph load: {} developers, {} repositories, {} follow edges (COPY)",
            l.developers, l.repositories, l.edges
        ),
        wanted: format!("< {MAX_LOAD_SECS:.0} s"),
        measured: format!(
            "{:.0} s ({:.0} s drawing the edges, {:.0} s COPY, {:.0} s indexes and keys, {:.0} s VACUUM ANALYZE)",
            l.seconds, l.generate_seconds, l.copy_seconds, l.index_seconds, l.vacuum_seconds
        ),
        passed: l.seconds < MAX_LOAD_SECS,
    }]
}
