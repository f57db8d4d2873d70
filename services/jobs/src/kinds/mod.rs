//! The production job kinds, one per file, all registered by `register_all`.

use crate::Registry;

/// Registers every production kind that runs with context `C`.
pub fn register_all<C: Send + Sync + 'static>(registry: Registry<C>) -> Registry<C> {
    registry
}
