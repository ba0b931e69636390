//! Small field rules shared by several resources.

/// A pragmatic e-mail check: one `@`, a non-empty local part, a dotted domain, no spaces.
pub fn is_email(s: &str) -> bool {
    if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
}

/// Normalised form used for uniqueness and lookup.
pub fn normalize_email(s: &str) -> String {
    s.trim().to_lowercase()
}

/// A non-blank text of at most `max` characters, without control or bidirectional-override
/// characters (they can disguise what a name, title or reason says, in the UI and in
/// e-mails). Line breaks are allowed only where `multiline`.
pub fn text(s: &str, max: usize) -> Result<(), String> {
    plain_text(s, max, false)
}

/// [`text`] for a field that may hold several lines (descriptions, plans, notes).
pub fn multiline_text(s: &str, max: usize) -> Result<(), String> {
    plain_text(s, max, true)
}

fn plain_text(s: &str, max: usize, multiline: bool) -> Result<(), String> {
    if s.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if s.trim().is_empty() {
        return Err("must not be blank".into());
    }
    if let Some(c) = s
        .chars()
        .find(|&c| is_hidden_or_control(c) && !(multiline && (c == '\n' || c == '\r' || c == '\t')))
    {
        return Err(format!(
            "must not contain control or bidirectional formatting characters (U+{:04X})",
            c as u32
        ));
    }
    Ok(())
}

/// Control characters (C0, DEL, C1) and the Unicode bidirectional formatting characters
/// (LRE…RLO, LRI…PDI, LRM/RLM/ALM) that reorder how text displays.
pub fn is_hidden_or_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
        )
}

/// An organisation code: 1–32 characters of `[A-Za-z0-9-_]`.
pub fn org_code(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 32 {
        return Err("must be 1 to 32 characters".into());
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err("may contain only letters, digits, '-' and '_'".into());
    }
    Ok(())
}

/// A phone number: `^\+?[0-9][0-9-]{3,18}[0-9]$` (e.g. `13800138000`, `021-57201234`).
pub fn phone(s: &str) -> Result<(), String> {
    let body = s.strip_prefix('+').unwrap_or(s);
    let ok = (5..=20).contains(&body.len())
        && body.starts_with(|c: char| c.is_ascii_digit())
        && body.ends_with(|c: char| c.is_ascii_digit())
        && body.chars().all(|c| c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err("must be a phone number such as 13800138000".into())
    }
}

#[cfg(test)]
mod text_tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_refused() {
        assert!(text("金山绿野家庭农场", 50).is_ok());
        assert!(text("a\u{202E}gnp.exe", 50).is_err());
        assert!(text("a\u{2067}b", 50).is_err());
        assert!(text("a\u{200F}b", 50).is_err());
        assert!(text("a\u{0007}b", 50).is_err());
        assert!(text("line\nbreak", 50).is_err());
        assert!(multiline_text("line\nbreak\r\n\ttab", 50).is_ok());
        assert!(multiline_text("a\u{0000}b", 50).is_err());
        assert!(text("   ", 50).is_err());
        assert!(text(&"长".repeat(51), 50).is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(is_email("zhang.san@example.cn"));
        assert!(is_email("a@b.co"));
        assert!(!is_email("no-at-sign"));
        assert!(!is_email("a@b"));
        assert!(!is_email("a b@c.cn"));
        assert!(!is_email("@c.cn"));
        assert!(!is_email("a@@c.cn"));
        assert_eq!(normalize_email(" A@B.CN "), "a@b.cn");
    }

    #[test]
    fn codes_and_texts() {
        assert!(org_code("CJ-01").is_ok());
        assert!(org_code("漕泾").is_err());
        assert!(text("漕泾镇", 100).is_ok());
        assert!(text("  ", 100).is_err());
        assert!(phone("13800138000").is_ok());
        assert!(phone("call me").is_err());
    }
}
