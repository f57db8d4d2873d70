//! GitHub's gist shapes as `GET /users/{username}/gists` sends them
//! (`base-gist`), read by the scan and written by the simulator.
//!
//! `files` is an object keyed by file name (a gist may have none); a file's
//! `language` is null for types GitHub does not know; `description`,
//! `owner` and `truncated` may be null or absent. `history` and `forks`
//! (removed by API version 2026-03-10) are not read at all.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::wire::OwnerPayload;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GistPayload {
    /// A string: legacy gists have numeric-looking ids (`"1209316"`).
    pub id: String,
    pub html_url: String,
    /// Keyed by file name; the name is part of a file's identity.
    #[serde(default)]
    pub files: BTreeMap<String, GistFilePayload>,
    #[serde(default)]
    pub public: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub owner: Option<OwnerPayload>,
    #[serde(default)]
    pub truncated: Option<bool>,
}

/// One file of a listed gist: no `content` in lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GistFilePayload {
    #[serde(default)]
    pub filename: Option<String>,
    /// The MIME type.
    #[serde(default, rename = "type")]
    pub mime: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    /// Embeds the blob's SHA, so it changes with the content.
    #[serde(default)]
    pub raw_url: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_gist_with_nulls_and_no_files_reads() {
        let raw = r#"[{"id":"1209316","html_url":"https://gist.github.com/1209316",
            "files":{},"public":true,"created_at":"2011-09-11T07:00:00Z",
            "updated_at":"2014-01-01T00:00:00Z","description":null,"user":null,
            "comments":0},
            {"id":"aa5a315d61ae9438b18d","html_url":"https://gist.github.com/aa5a315d61ae9438b18d",
            "files":{"it's (odd).xyz":{"filename":"it's (odd).xyz","type":"text/plain",
            "language":null,"raw_url":"https://gist.githubusercontent.com/o/aa/raw/abc/x","size":3}},
            "public":true,"created_at":"2017-01-01T00:00:00Z","updated_at":"2017-01-02T00:00:00Z",
            "description":"","truncated":false}]"#;
        let gists: Vec<GistPayload> = serde_json::from_str(raw).unwrap();
        assert!(gists[0].files.is_empty() && gists[0].description.is_none());
        let file = &gists[1].files["it's (odd).xyz"];
        assert_eq!(file.language, None);
        assert_eq!(file.size, Some(3));
    }
}
