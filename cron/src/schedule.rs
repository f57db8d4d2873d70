use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("schedule file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("schedule: call `{name}`: {reason}")]
    Call { name: String, reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCall {
    name: String,
    method: Method,
    path: String,
    #[serde(default)]
    at_start: bool,
    #[serde(default)]
    cron: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    #[serde(default)]
    call: Vec<RawCall>,
}

/// One maintenance call and when to make it.
#[derive(Debug, Clone)]
pub struct Call {
    pub name: String,
    pub method: Method,
    pub path: String,
    pub at_start: bool,
    pub cron: Option<cron::Schedule>,
}

impl Call {
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.as_ref()?.after(&after).next()
    }
}

pub fn parse(text: &str) -> Result<Vec<Call>, ScheduleError> {
    let raw: RawSchedule = toml::from_str(text).map_err(|e| ScheduleError::Read {
        path: "<text>".into(),
        reason: e.message().to_owned(),
    })?;
    raw.call
        .into_iter()
        .map(|call| {
            let fail = |reason: String| ScheduleError::Call {
                name: call.name.clone(),
                reason,
            };
            if !call.path.starts_with('/') {
                return Err(fail("path must start with /".into()));
            }
            let cron = call
                .cron
                .as_deref()
                .map(cron::Schedule::from_str)
                .transpose()
                .map_err(|e| fail(format!("bad cron expression: {e}")))?;
            if cron.is_none() && !call.at_start {
                return Err(fail("needs `cron`, `at_start = true`, or both".into()));
            }
            Ok(Call {
                name: call.name,
                method: call.method,
                path: call.path,
                at_start: call.at_start,
                cron,
            })
        })
        .collect()
}

pub fn load(path: &Path) -> Result<Vec<Call>, ScheduleError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScheduleError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    parse(&text).map_err(|err| match err {
        ScheduleError::Read { reason, .. } => ScheduleError::Read {
            path: path.display().to_string(),
            reason,
        },
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_shipped_schedule_parses() {
        let calls = load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/schedule.toml"
        )))
        .unwrap();
        let bootstrap = calls.iter().find(|c| c.name == "bootstrap").unwrap();
        assert!(bootstrap.at_start && bootstrap.cron.is_none());
        let hourly = calls.iter().find(|c| c.name == "update_cache").unwrap();
        let from = Utc.with_ymd_and_hms(2026, 1, 1, 10, 15, 0).unwrap();
        assert_eq!(
            hourly.next_after(from),
            Some(Utc.with_ymd_and_hms(2026, 1, 1, 11, 0, 0).unwrap())
        );
        let daily = calls.iter().find(|c| c.name == "sync_orgs").unwrap();
        assert_eq!(daily.path, "/v1/orgs/sync");
        assert_eq!(
            daily.next_after(from),
            Some(Utc.with_ymd_and_hms(2026, 1, 2, 3, 30, 0).unwrap())
        );
    }

    #[test]
    fn bad_entries_are_named() {
        let err = parse(
            "[[call]]\nname = \"x\"\nmethod = \"POST\"\npath = \"/a\"\ncron = \"every hour\"",
        )
        .unwrap_err();
        assert!(err.to_string().contains("call `x`"), "{err}");
        let err = parse("[[call]]\nname = \"y\"\nmethod = \"POST\"\npath = \"/a\"").unwrap_err();
        assert!(err.to_string().contains("call `y`"), "{err}");
        assert!(
            parse("[[call]]\nname = \"z\"\nmethod = \"DELETE\"\npath = \"/a\"\nat_start = true")
                .is_err()
        );
        assert!(
            parse("[[call]]\nname = \"w\"\nmethod = \"GET\"\npath = \"a\"\nat_start = true")
                .is_err()
        );
    }
}
