use crate::policy::{normalize_path, PathError};

#[test]
fn paths_are_normalized_the_way_the_upstream_resolves_them() {
    let cases = [
        ("/", "/"),
        ("/api/v2/dags", "/api/v2/dags"),
        ("/api//v2///dags", "/api/v2/dags"),
        ("/api/./v2/./dags", "/api/v2/dags"),
        ("/api/v2/x/../dags", "/api/v2/dags"),
        ("/../../etc/passwd", "/etc/passwd"),
        ("/api/%2e%2e/admin", "/admin"),
        ("/api/%2E./admin", "/admin"),
        ("/%61pi/v2", "/api/v2"),
        ("/api/v2/", "/api/v2/"),
        ("/api/v2/.", "/api/v2/"),
        ("/api/v2/..", "/api/"),
        ("/a%20b", "/a%20b"),
        ("/a%3bb", "/a%3Bb"),
        ("/a;b/../c", "/c"),
        ("/caf\u{e9}", "/caf\u{e9}"),
        ("/%7euser", "/~user"),
    ];
    for (raw, want) in cases {
        assert_eq!(normalize_path(raw).map(|(p, _)| p), Ok(want.to_owned()), "{raw}");
    }
}

#[test]
fn the_query_never_takes_part_in_matching_and_is_kept_verbatim() {
    assert_eq!(normalize_path("/a/../b?x=/../admin&y=%2F"), Ok(("/b".to_owned(), Some("x=/../admin&y=%2F"))));
    assert_eq!(normalize_path("/b?"), Ok(("/b".to_owned(), Some(""))));
}

#[test]
fn escapes_of_well_formed_utf8_stay_escaped_and_are_accepted() {
    assert_eq!(normalize_path("/caf%c3%a9/%E2%82%AC"), Ok(("/caf%C3%A9/%E2%82%AC".to_owned(), None)));
    assert_eq!(normalize_path("/caf\u{e9}"), Ok(("/caf\u{e9}".to_owned(), None)));
}

#[test]
fn ambiguous_paths_are_refused_instead_of_guessed() {
    let cases = [
        ("/api%2Fadmin", PathError::EncodedSlash),
        ("/api%2fadmin", PathError::EncodedSlash),
        ("/api%5cadmin", PathError::EncodedBackslash),
        ("/api\\admin", PathError::Backslash),
        ("/api%00", PathError::Nul),
        ("/api%", PathError::BadEncoding),
        ("/api%4", PathError::BadEncoding),
        ("/api%zz", PathError::BadEncoding),
        ("/api#frag", PathError::Fragment),
        ("/a b", PathError::ControlCharacter),
        ("/a\tb", PathError::ControlCharacter),
        ("api", PathError::NotAbsolute),
        ("*", PathError::NotAbsolute),
        ("", PathError::NotAbsolute),
        // Overlong `.` (some decoders read `..`), a lone continuation byte, a truncated sequence, a surrogate.
        ("/public/%c0%ae%c0%ae/admin/x", PathError::InvalidUtf8),
        ("/public/%80", PathError::InvalidUtf8),
        ("/public/%e2%82", PathError::InvalidUtf8),
        ("/public/%ed%a0%80", PathError::InvalidUtf8),
        ("/public/\u{e9}%a9", PathError::InvalidUtf8),
    ];
    for (raw, want) in cases {
        assert_eq!(normalize_path(raw), Err(want), "{raw:?}");
    }
}

#[test]
fn normalization_is_idempotent() {
    for raw in ["/a//b/../c/./d/", "/%7e/%2e%2e/x", "/a%3bb/..", "/x/y/z/../../..", "/%41%42%43"] {
        let (once, _) = normalize_path(raw).unwrap();
        let (twice, _) = normalize_path(&once).unwrap();
        assert_eq!(once, twice, "{raw}");
    }
}
