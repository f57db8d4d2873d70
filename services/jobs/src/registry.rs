use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::{Job, JobError, JobRun, Outcome};

type BoxedRun = Pin<Box<dyn Future<Output = Result<Outcome, JobError>> + Send>>;
type Runner<C> = Arc<dyn Fn(Arc<C>, JobRun, serde_json::Value) -> BoxedRun + Send + Sync>;

/// Job kinds by name, each turned into a type-erased runner that parses its
/// payload and runs its handler with the shared context `C`.
pub struct Registry<C> {
    runners: HashMap<&'static str, Runner<C>>,
}

impl<C: Send + Sync + 'static> Default for Registry<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Send + Sync + 'static> Registry<C> {
    pub fn new() -> Self {
        Self {
            runners: HashMap::new(),
        }
    }

    pub fn register<J: Job<Context = C>>(mut self) -> Self {
        let runner: Runner<C> = Arc::new(|ctx: Arc<C>, run: JobRun, payload: serde_json::Value| {
            Box::pin(async move {
                let job: J = serde_json::from_value(payload).map_err(|e| {
                    JobError::Permanent(format!("payload of a {} job does not parse: {e}", J::KIND))
                })?;
                match job.run(&ctx, &run).await? {
                    Outcome::Done(output) => serde_json::to_value(output)
                        .map(Outcome::Done)
                        .map_err(|e| {
                            JobError::Permanent(format!(
                                "the result of a {} job does not serialize: {e}",
                                J::KIND
                            ))
                        }),
                    Outcome::RescheduleAt { at, reason } => {
                        Ok(Outcome::RescheduleAt { at, reason })
                    }
                }
            }) as BoxedRun
        });
        self.runners.insert(J::KIND, runner);
        self
    }

    pub fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.runners.keys().copied()
    }

    pub(crate) fn runner(&self, kind: &str) -> Option<Runner<C>> {
        self.runners.get(kind).cloned()
    }
}
