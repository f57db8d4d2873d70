use hubpulse_store::Store;

/// What production job kinds run with.
#[derive(Clone)]
pub struct JobContext {
    pub store: Store,
}
