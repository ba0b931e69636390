//! Parcels (地块), "one plot one code" (一地一码).

crate::text_enum! {
    pub enum LandType {
        /// 耕地
        Arable = "arable",
        /// 园地
        Garden = "garden",
        /// 林地
        Forest = "forest",
        /// 养殖水面
        Aquaculture = "aquaculture",
        /// 设施农用地
        Facility = "facility",
    }
}

/// Parcel code: 1–64 characters of `[A-Za-z0-9-]`.
pub fn check_code(code: &str) -> Result<(), String> {
    if code.is_empty()
        || code.len() > 64
        || !code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err("must be 1 to 64 characters of A-Z, a-z, 0-9 and '-'".into());
    }
    Ok(())
}

/// A GeoJSON Polygon: `{"type":"Polygon","coordinates":[ring, ...]}`, each ring a closed
/// list of at least four `[lng, lat]` positions within range.
pub fn check_polygon(v: &serde_json::Value) -> Result<(), String> {
    let obj = v.as_object().ok_or("must be a GeoJSON Polygon object")?;
    if obj.get("type").and_then(|t| t.as_str()) != Some("Polygon") {
        return Err("type must be \"Polygon\"".into());
    }
    let rings = obj
        .get("coordinates")
        .and_then(|c| c.as_array())
        .filter(|r| !r.is_empty())
        .ok_or("coordinates must be a non-empty array of rings")?;
    for ring in rings {
        let pts = ring
            .as_array()
            .ok_or("each ring must be an array of positions")?;
        if pts.len() < 4 {
            return Err("each ring needs at least 4 positions".into());
        }
        let mut parsed = Vec::with_capacity(pts.len());
        for p in pts {
            let pair = p
                .as_array()
                .filter(|a| a.len() == 2 || a.len() == 3)
                .ok_or("each position must be [lng, lat]")?;
            let lng = pair[0].as_f64().ok_or("lng must be a number")?;
            let lat = pair[1].as_f64().ok_or("lat must be a number")?;
            if !(-180.0..=180.0).contains(&lng) || !(-90.0..=90.0).contains(&lat) {
                return Err("position out of range (lng -180..180, lat -90..90)".into());
            }
            parsed.push((lng, lat));
        }
        if parsed.first() != parsed.last() {
            return Err("each ring must be closed (first position = last)".into());
        }
    }
    Ok(())
}

/// An area in mu (a decimal string, at most 2 decimals), greater than 0: centi-mu.
pub fn check_area_mu(area_mu: &str) -> Result<i64, String> {
    match super::money::parse_mu(area_mu)? {
        c if c > 0 => Ok(c),
        _ => Err("must be greater than 0".into()),
    }
}

/// Quality grade (耕地质量等级) 1 to 10, or none.
pub fn check_quality_grade(grade: Option<i64>) -> Result<(), String> {
    if grade.is_some_and(|g| !(1..=10).contains(&g)) {
        return Err("must be 1 to 10".into());
    }
    Ok(())
}

/// Contracting households of one parcel.
pub fn check_households(households: i64) -> Result<(), String> {
    if !(0..=100_000).contains(&households) {
        return Err("must be 0 to 100000".into());
    }
    Ok(())
}

/// Longest location text, in characters.
pub const MAX_LOCATION_CHARS: usize = 500;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn codes() {
        assert!(check_code("JS-CJ-0001-017").is_ok());
        assert!(check_code("").is_err());
        assert!(check_code("漕泾-1").is_err());
        assert!(check_code(&"A".repeat(65)).is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(check_area_mu("158.31"), Ok(15_831));
        assert_eq!(
            check_area_mu("0"),
            Err("must be greater than 0".to_string())
        );
        assert!(check_area_mu("1.234").is_err());
        assert!(check_quality_grade(None).is_ok() && check_quality_grade(Some(11)).is_err());
        assert!(check_households(0).is_ok() && check_households(100_001).is_err());
    }

    #[test]
    fn polygons() {
        let ok = json!({"type":"Polygon","coordinates":[[[121.40,30.80],[121.41,30.80],[121.41,30.81],[121.40,30.80]]]});
        assert!(check_polygon(&ok).is_ok());
        let open = json!({"type":"Polygon","coordinates":[[[121.40,30.80],[121.41,30.80],[121.41,30.81],[121.42,30.80]]]});
        assert!(check_polygon(&open).is_err());
        let short = json!({"type":"Polygon","coordinates":[[[121.40,30.80],[121.41,30.80],[121.40,30.80]]]});
        assert!(check_polygon(&short).is_err());
        let range = json!({"type":"Polygon","coordinates":[[[200,30.80],[121.41,30.80],[121.41,30.81],[200,30.80]]]});
        assert!(check_polygon(&range).is_err());
        assert!(check_polygon(&json!({"type":"Point","coordinates":[1,2]})).is_err());
        assert!(check_polygon(&json!("x")).is_err());
    }
}
