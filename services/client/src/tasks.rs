//! Jobs: `GET /v1/tasks/{id}`, and waiting for one to finish.

use std::time::{Duration, Instant};

use hubpulse_runtime::Backoff;
use reqwest::{Method, StatusCode};

use crate::{ApiClient, ClientError, Task, TaskStatus, TaskWatch};

impl ApiClient {
    /// `GET /v1/tasks/{id}`.
    pub async fn task(&self, id: i64) -> Result<Task, ClientError> {
        self.call_json(Method::GET, &format!("/v1/tasks/{id}"), false, None)
            .await
    }

    /// `GET /v1/tasks/{id}`, `None` for a 404.
    pub async fn task_if_any(&self, id: i64) -> Result<Option<Task>, ClientError> {
        match self.task(id).await {
            Ok(task) => Ok(Some(task)),
            Err(err) if err.status() == Some(StatusCode::NOT_FOUND) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Polls the job until it succeeded or failed, for at most `within`.
    /// Failed polls (a replica restarting, Postgres away) are waited out.
    pub async fn watch_task(&self, id: i64, within: Duration) -> Result<TaskWatch, ClientError> {
        let started = Instant::now();
        let mut statuses: Vec<TaskStatus> = Vec::new();
        let mut poll_errors = Vec::new();
        let mut last: Option<Task> = None;
        let mut waits = Backoff::POLL.waits();
        loop {
            match self.task(id).await {
                Ok(task) => {
                    if statuses.last() != Some(&task.status) {
                        statuses.push(task.status);
                    }
                    let finished = task.status.is_finished();
                    last = Some(task);
                    if finished {
                        break;
                    }
                }
                Err(err) => poll_errors.push(err.to_string()),
            }
            if started.elapsed() > within {
                return Err(ClientError::Timeout {
                    call: format!("GET /v1/tasks/{id}"),
                    within,
                    last: match &last {
                        Some(task) => format!(
                            "statuses seen: {}; last error: {}",
                            statuses
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(" → "),
                            task.last_error.as_deref().unwrap_or("none")
                        ),
                        None => poll_errors.last().cloned().unwrap_or_default(),
                    },
                });
            }
            tokio::time::sleep(waits.next().unwrap_or(Duration::from_millis(250))).await;
        }
        Ok(TaskWatch {
            task: last.expect("the loop breaks with a task"),
            statuses,
            poll_errors,
            waited: started.elapsed(),
        })
    }

    /// [`ApiClient::watch_task`]'s last reading of the job.
    pub async fn wait_task(&self, id: i64, within: Duration) -> Result<Task, ClientError> {
        self.watch_task(id, within).await.map(|w| w.task)
    }
}
