//! Replies a test forces on one path through `/_sim/lists`: "still
//! computing" (202), "nothing here" (204), or a `Link` whose `next` points
//! back to an earlier page.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::areas::ALIAS;
use crate::state::lock;

/// `PUT /_sim/lists`: what `path` answers from now on. A path is matched
/// without the `/api/v3` alias and without the query; it matches a request
/// for that path, and every page of a list whose `Link` URLs use it (so
/// `/user/{id}/repos` covers all of a user's repository pages, while
/// `/users/{login}/repos` covers only the ones asked under that path).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListControl {
    pub path: String,
    /// The next N requests answer 202 with `{}`, as GitHub does while it
    /// computes; then as usual.
    #[serde(default)]
    pub accepted: u32,
    /// After those, the next N requests answer 204 with no body.
    #[serde(default)]
    pub no_content: u32,
    /// Until cleared, the page `at_page` (the last page when absent) links
    /// `next` to page `to_page`, making the list endless.
    #[serde(default)]
    pub link_cycle: Option<LinkCycle>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkCycle {
    #[serde(default)]
    pub at_page: Option<usize>,
    #[serde(default = "first_page")]
    pub to_page: usize,
}

fn first_page() -> usize {
    1
}

/// What a control makes one request answer instead of its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forced {
    Accepted,
    NoContent,
}

#[derive(Debug, Default)]
pub struct Controls {
    by_path: Mutex<BTreeMap<String, ListControl>>,
}

/// `/api/v3/x/` and `/x` are the same path.
pub fn bare(path: &str) -> &str {
    let path = path.strip_prefix(ALIAS).unwrap_or(path);
    match path.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed,
        _ => path,
    }
}

impl Controls {
    pub fn set(&self, mut control: ListControl) -> ListControl {
        control.path = bare(&control.path).to_owned();
        lock(&self.by_path).insert(control.path.clone(), control.clone());
        control
    }

    pub fn all(&self) -> Vec<ListControl> {
        lock(&self.by_path).values().cloned().collect()
    }

    pub fn clear(&self) {
        lock(&self.by_path).clear();
    }

    /// Uses up one forced reply of the first control among `paths` that has one left.
    pub fn take(&self, paths: &[&str]) -> Option<Forced> {
        let mut by_path = lock(&self.by_path);
        for path in paths {
            let Some(control) = by_path.get_mut(bare(path)) else {
                continue;
            };
            if control.accepted > 0 {
                control.accepted -= 1;
                return Some(Forced::Accepted);
            }
            if control.no_content > 0 {
                control.no_content -= 1;
                return Some(Forced::NoContent);
            }
        }
        None
    }

    pub fn cycle(&self, paths: &[&str]) -> Option<LinkCycle> {
        let by_path = lock(&self.by_path);
        paths
            .iter()
            .find_map(|path| by_path.get(bare(path)).and_then(|c| c.link_cycle))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forced_replies_count_down_in_order_and_match_either_path() {
        let controls = Controls::default();
        controls.set(ListControl {
            path: "/api/v3/user/7/repos/".into(),
            accepted: 2,
            no_content: 1,
            link_cycle: None,
        });
        let paths = ["/users/a/repos", "/user/7/repos"];
        assert_eq!(controls.take(&paths), Some(Forced::Accepted));
        assert_eq!(
            controls.take(&["/api/v3/user/7/repos"]),
            Some(Forced::Accepted)
        );
        assert_eq!(controls.take(&paths), Some(Forced::NoContent));
        assert_eq!(controls.take(&paths), None);
        assert_eq!(controls.take(&["/users/a/repos"]), None);
        assert_eq!(bare("/"), "/");
    }
}
