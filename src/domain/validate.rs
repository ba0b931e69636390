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

/// A non-blank text of at most `max` characters.
pub fn text(s: &str, max: usize) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("must not be blank".into());
    }
    if s.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    Ok(())
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
