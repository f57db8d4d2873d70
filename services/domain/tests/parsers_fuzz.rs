//! Property tests of the parsers every value from outside goes through:
//! `Topic`, `Login` and `RepoFullName`.
//!
//! For each: arbitrary strings (any Unicode, controls and NUL included) and
//! arbitrary bytes never panic; every string of the documented grammar is
//! accepted and comes back unchanged through `as_str`/`Display`, `FromStr`
//! and serde; each known-bad class (a stray character, a leading hyphen,
//! one character too many, `..`, `%`-escapes) is refused; and a refusal
//! never echoes the input, since the API puts it in a 400 body.

use hubpulse_domain::{Login, ParseError, RepoFullName, Topic};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        ..ProptestConfig::default()
    }
}

/// Any string: printable or not, any plane, up to `max` characters.
fn any_text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(any::<char>(), 0..max).prop_map(|c| c.into_iter().collect()),
        // Bytes as a client could send them, decoded the way a lenient
        // reader would (`%FF` in a path becomes U+FFFD).
        proptest::collection::vec(any::<u8>(), 0..max)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        // Mostly the right alphabet, with the odd character that is not.
        proptest::string::string_regex(&format!("[a-zA-Z0-9_./%\\[\\]\\- \\x00ü]{{0,{max}}}"))
            .expect("a valid regex"),
        // Only characters some grammar allows, so the length, case, hyphen
        // and `[bot]` rules decide.
        proptest::string::string_regex(&format!(
            "[a-zA-Z0-9._\\-]{{0,{max}}}(/[a-zA-Z0-9._\\-]{{0,{max}}})?(\\[bot\\])?"
        ))
        .expect("a valid regex"),
    ]
}

/// Characters none of the three grammars allows anywhere.
fn stray_char() -> impl Strategy<Value = char> {
    prop_oneof![
        Just(' '),
        Just('/'),
        Just('\\'),
        Just('%'),
        Just('\0'),
        Just('\n'),
        Just('\t'),
        Just('"'),
        Just('<'),
        Just('?'),
        Just('#'),
        Just('@'),
        Just(':'),
        Just('ü'),
        Just('\u{202e}'),
        Just('🦀'),
        Just('Ａ'),
        // Anything outside ASCII.
        any::<char>().prop_filter("non-ASCII", |c| !c.is_ascii()),
    ]
}

/// `s` with `c` put in at `at` (taken modulo the possible places).
fn insert(s: &str, at: usize, c: char) -> String {
    let places: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
    let at = places[at % places.len()];
    let mut out = s.to_owned();
    out.insert(at, c);
    out
}

/// The refusal names the rule, not the value.
fn assert_no_echo(err: &ParseError, marker: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        !err.to_string().contains(marker),
        "the error echoes its input: {err}"
    );
    Ok(())
}

fn topic() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9-]{0,49}"
}

fn login() -> impl Strategy<Value = String> {
    ("[a-zA-Z0-9][a-zA-Z0-9-]{0,38}", any::<bool>()).prop_map(|(base, bot)| {
        if bot { format!("{base}[bot]") } else { base }
    })
}

fn repo_name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._-]{1,100}".prop_filter("not . or ..", |n| n != "." && n != "..")
}

proptest! {
    #![proptest_config(config())]

    // ---- Topic ----

    #[test]
    fn topic_never_panics_and_accepts_only_its_grammar(raw in any_text(80)) {
        let expected = !raw.is_empty()
            && raw.len() <= Topic::MAX_LEN
            && !raw.starts_with('-')
            && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        match Topic::parse(&raw) {
            Ok(topic) => {
                prop_assert!(expected, "{raw:?} accepted");
                prop_assert_eq!(topic.as_str(), raw.as_str());
            }
            Err(_) => prop_assert!(!expected, "{raw:?} refused"),
        }
    }

    #[test]
    fn topic_valid_round_trips(raw in topic()) {
        let topic = Topic::parse(&raw).unwrap();
        prop_assert_eq!(topic.as_str(), raw.as_str());
        prop_assert_eq!(topic.to_string(), raw.clone());
        prop_assert_eq!(raw.parse::<Topic>().unwrap(), topic.clone());
        let json = serde_json::to_string(&topic).unwrap();
        prop_assert_eq!(&json, &format!("\"{raw}\""));
        prop_assert_eq!(serde_json::from_str::<Topic>(&json).unwrap(), topic);
    }

    #[test]
    fn topic_known_bad_classes_are_refused(
        raw in topic(),
        at in any::<usize>(),
        stray in stray_char(),
        upper in "[A-Z]",
        extra in "[a-z0-9-]{1,60}",
    ) {
        let with_stray = insert(&raw, at, stray);
        let with_upper = insert(&raw, at, upper.chars().next().unwrap());
        let too_long = format!("{raw}{extra}");
        for bad in [
            with_stray.clone(),
            with_upper,
            format!("-{raw}"),
            format!("{raw}.."),
            format!("%{:02X}{raw}", raw.as_bytes()[0]),
        ] {
            prop_assert!(Topic::parse(&bad).is_err(), "{bad:?} accepted");
            prop_assert!(serde_json::from_value::<Topic>(serde_json::Value::String(bad.clone())).is_err());
        }
        prop_assert_eq!(Topic::parse(&too_long).is_ok(), too_long.len() <= Topic::MAX_LEN);
        let marker = format!("SECRET{with_stray}");
        assert_no_echo(&Topic::parse(&marker).unwrap_err(), "SECRET")?;
    }

    // ---- Login ----

    #[test]
    fn login_never_panics_and_accepts_only_its_grammar(raw in any_text(60)) {
        let base = raw.strip_suffix("[bot]").unwrap_or(&raw);
        let expected = !base.is_empty()
            && base.len() <= Login::MAX_LEN
            && !base.starts_with('-')
            && base.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        match Login::parse(&raw) {
            Ok(login) => {
                prop_assert!(expected, "{raw:?} accepted");
                prop_assert_eq!(login.as_str(), raw.as_str());
            }
            Err(_) => prop_assert!(!expected, "{raw:?} refused"),
        }
    }

    #[test]
    fn login_valid_round_trips(raw in login()) {
        let login = Login::parse(&raw).unwrap();
        prop_assert_eq!(login.as_str(), raw.as_str());
        prop_assert_eq!(login.to_string(), raw.clone());
        prop_assert_eq!(login.is_bot(), raw.ends_with("[bot]"));
        prop_assert_eq!(raw.parse::<Login>().unwrap(), login.clone());
        let json = serde_json::to_string(&login).unwrap();
        prop_assert_eq!(serde_json::from_str::<Login>(&json).unwrap(), login);
    }

    #[test]
    fn login_known_bad_classes_are_refused(
        raw in login(),
        at in any::<usize>(),
        stray in stray_char(),
        extra in "[a-z]{40,60}",
    ) {
        let base = raw.strip_suffix("[bot]").unwrap_or(&raw).to_owned();
        let with_stray = insert(&base, at, stray);
        for bad in [
            with_stray.clone(),
            format!("-{raw}"),
            format!("{base}{extra}"),
            format!("{base}[bot]x"),
            format!("[bot]{base}"),
            format!("{base}[bot][bot]"),
            format!("{base}[BOT]"),
            "[bot]".to_owned(),
        ] {
            prop_assert!(Login::parse(&bad).is_err(), "{bad:?} accepted");
        }
        assert_no_echo(&Login::parse(&format!("SECRET{with_stray}")).unwrap_err(), "SECRET")?;
    }

    // ---- RepoFullName ----

    #[test]
    fn repo_full_name_never_panics_and_accepts_only_owner_slash_name(raw in any_text(160)) {
        if let Ok(full) = RepoFullName::parse(&raw) {
            prop_assert_eq!(full.to_string(), raw.clone());
            let (owner, name) = raw.split_once('/').unwrap();
            prop_assert_eq!(full.owner().as_str(), owner);
            prop_assert_eq!(full.name(), name);
            prop_assert!(Login::parse(owner).is_ok());
            prop_assert!(!name.contains('/') && name != "." && name != "..");
        } else if let Some((owner, name)) = raw.split_once('/') {
            let name_ok = !name.is_empty()
                && name.len() <= RepoFullName::MAX_NAME_LEN
                && name != "."
                && name != ".."
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            prop_assert!(
                Login::parse(owner).is_err() || !name_ok,
                "{raw:?} refused though both halves are valid"
            );
        }
    }

    #[test]
    fn repo_full_name_valid_round_trips(owner in login(), name in repo_name()) {
        let raw = format!("{owner}/{name}");
        let full = RepoFullName::parse(&raw).unwrap();
        prop_assert_eq!(full.owner().as_str(), owner.as_str());
        prop_assert_eq!(full.name(), name.as_str());
        prop_assert_eq!(full.to_string(), raw.clone());
        prop_assert_eq!(raw.parse::<RepoFullName>().unwrap(), full.clone());
        let json = serde_json::to_string(&full).unwrap();
        prop_assert_eq!(&json, &serde_json::to_string(&raw).unwrap());
        prop_assert_eq!(serde_json::from_str::<RepoFullName>(&json).unwrap(), full);
    }

    #[test]
    fn repo_full_name_known_bad_classes_are_refused(
        owner in login(),
        name in repo_name(),
        at in any::<usize>(),
        stray in stray_char(),
        extra in "[a-z]{101,120}",
    ) {
        let with_stray = format!("{owner}/{}", insert(&name, at, stray));
        for bad in [
            with_stray.clone(),
            format!("{owner}{name}"),
            format!("{owner}/{name}/x"),
            format!("{owner}/"),
            format!("/{name}"),
            format!("{owner}/."),
            format!("{owner}/.."),
            format!("../{name}"),
            format!("{owner}/{extra}"),
            format!("-{owner}/{name}"),
            format!("{owner}%2F{name}"),
        ] {
            prop_assert!(RepoFullName::parse(&bad).is_err(), "{bad:?} accepted");
        }
        assert_no_echo(
            &RepoFullName::parse(&format!("{owner}/SECRET{}", insert(&name, at, stray))).unwrap_err(),
            "SECRET",
        )?;
    }
}
