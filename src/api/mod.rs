//! HTTP layer: one module per resource. Handlers translate HTTP to domain calls and back.

pub mod auction;
pub mod audit_trail;
pub mod auth;
pub mod clock;
pub mod console;
pub mod contracts;
pub mod docs;
pub mod documents;
pub mod extract;
pub mod insurance;
pub mod listings;
pub mod open_data;
pub mod orgs;
pub mod pages;
pub mod parcels;
pub mod registrations;
pub mod service;
pub mod signals;
pub mod stats;
pub mod users;

use actix_web::http::Method;
use actix_web::{web, FromRequest, Handler, HttpResponse, Responder, Route};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, FieldError};

/// Parses a JSON body. Only unparsable JSON is 400; unknown, missing or wrongly typed fields
/// are 422 naming the field. An empty body reads as `{}` (actions without parameters).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let json = json_syntax(body)?;
    if !json.is_object() {
        return Err(ApiError::field("body", "must be a JSON object"));
    }
    from_json_value(json)
}

/// Like [`parse_json`], and names *every* unknown and missing top-level field at once (from
/// the body's OpenAPI schema), not only the first one serde meets.
pub fn parse_body<T: DeserializeOwned + utoipa::PartialSchema>(body: &[u8]) -> Result<T, ApiError> {
    let json = json_syntax(body)?;
    if let utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(obj)) = T::schema() {
        // serde would read a struct from an array too (`[null, null]` as positional fields):
        // a body, and every object-typed field of it, must be a JSON object.
        let map = match &json {
            serde_json::Value::Object(map) => map,
            _ => return Err(ApiError::field("body", "must be a JSON object")),
        };
        let mut errors: Vec<FieldError> = map
            .iter()
            .filter(|(k, v)| v.is_array() && obj.properties.get(*k).is_some_and(expects_object))
            .take(crate::error::MAX_FIELD_ERRORS)
            .map(|(k, _)| FieldError::new(k.clone(), "must be a JSON object"))
            .collect();
        errors.extend(
            map.keys()
                .filter(|k| !obj.properties.contains_key(*k))
                .take(crate::error::MAX_FIELD_ERRORS)
                .map(|k| FieldError::new(k.chars().take(101).collect::<String>(), "unknown field")),
        );
        errors.extend(
            obj.required
                .iter()
                .filter(|r| !map.contains_key(*r))
                .map(|r| FieldError::new(r.clone(), "missing field")),
        );
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
    }
    from_json_value(json)
}

/// Whether a property's schema is a struct (a `$ref`, possibly nullable, or an inline object).
fn expects_object(schema: &utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>) -> bool {
    use utoipa::openapi::schema::{Schema, SchemaType, Type};
    use utoipa::openapi::RefOr;
    match schema {
        RefOr::Ref(r) => !r.ref_location.is_empty(),
        RefOr::T(Schema::Object(o)) => matches!(o.schema_type, SchemaType::Type(Type::Object)),
        RefOr::T(Schema::OneOf(one)) => one.items.iter().any(expects_object),
        RefOr::T(Schema::AllOf(all)) => all.items.iter().any(expects_object),
        RefOr::T(Schema::AnyOf(any)) => any.items.iter().any(expects_object),
        _ => false,
    }
}

/// Syntax first (400), so a body that isn't JSON at all never reads as a missing field.
fn json_syntax(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))
}

/// Shape (422 naming the field).
fn from_json_value<T: DeserializeOwned>(json: serde_json::Value) -> Result<T, ApiError> {
    match serde_path_to_error::deserialize(json) {
        Ok(v) => Ok(v),
        Err(err) => {
            let path = err.path().to_string();
            let msg = err.into_inner().to_string();
            let named = ["unknown field `", "missing field `"]
                .iter()
                .find_map(|p| msg.split_once(p))
                .and_then(|(_, rest)| rest.split_once('`'))
                .map(|(name, _)| name.to_string());
            let parent = if path == "." { String::new() } else { path };
            // For an unknown field the path already ends with it; for a missing one the path
            // is its parent.
            let field = match named {
                Some(n) if parent == n || parent.ends_with(&format!(".{n}")) => parent,
                Some(n) if parent.is_empty() => n,
                Some(n) => format!("{parent}.{n}"),
                None if parent.is_empty() => "body".to_string(),
                None => parent,
            };
            Err(ApiError::Validation(vec![FieldError::new(field, msg)]))
        }
    }
}

/// `?limit=&cursor=` of every list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Cursor from the previous page's `next_cursor` (treat it as opaque).
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn to_req(&self) -> Result<crate::db::queries::PageReq, ApiError> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            return Err(ApiError::field("limit", "must be between 1 and 200"));
        }
        let after = self.cursor.as_deref().map(decode_cursor).transpose()?;
        Ok(crate::db::queries::PageReq { after, limit })
    }
}

/// The cursor of id-ordered lists is the last id seen (ids are UUIDv7, time-ordered).
pub fn encode_cursor(id: &str) -> String {
    id.to_string()
}

pub fn decode_cursor(c: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(c)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::BadRequest("invalid cursor".into()))
}

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows keyed by `id`.
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        limit: i64,
        id: impl Fn(&R) -> String,
        map: impl FnMut(R) -> T,
    ) -> Page<T> {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| encode_cursor(&id(r)))
        } else {
            None
        };
        Page {
            items: rows.into_iter().map(map).collect(),
            next_cursor,
        }
    }
}

/// An optional UUID query filter: malformed → 400 (a bad query string).
pub fn query_id(raw: Option<String>, name: &str) -> Result<Option<String>, ApiError> {
    raw.map(|r| {
        uuid::Uuid::parse_str(&r)
            .map(|u| u.to_string())
            .map_err(|_| ApiError::BadRequest(format!("query parameter `{name}` must be a UUID")))
    })
    .transpose()
}

/// A `year` query parameter outside the range of
/// [`crate::domain::open_data::business_year`] (a bad query string).
pub fn bad_year() -> ApiError {
    ApiError::BadRequest("query parameter `year` must be between 1900 and 9998".into())
}

/// A comma-separated query list of enum words (`overdue,defaulted`); an unknown word is 400
/// (a bad query string).
pub fn word_list<T>(
    raw: Option<&str>,
    name: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<Vec<T>, ApiError> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(Vec::new());
    };
    if raw.len() > 500 {
        return Err(ApiError::BadRequest(format!(
            "query parameter `{name}` is too long"
        )));
    }
    raw.split(',')
        .map(|w| {
            parse(w.trim()).ok_or_else(|| {
                ApiError::BadRequest(format!("query parameter `{name}`: unknown value {w:?}"))
            })
        })
        .collect()
}

/// Actions without parameters accept an empty body or `{}`; anything else is 422.
pub fn parse_empty(body: &[u8]) -> Result<(), ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Empty {}
    let _: Empty = parse_json(body)?;
    Ok(())
}

/// A path id: must be a UUID (else 400).
pub fn parse_id(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::BadRequest("path id must be a UUID".into()))
}

/// An account as the API shows it (never the password hash): the answer of `/users`, `/me`,
/// registration and login alike.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserOut {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub phone: Option<String>,
    pub role: crate::domain::roles::Role,
    pub village_id: Option<String>,
    pub township_id: Option<String>,
    pub insurer_id: Option<String>,
    pub email_verified: bool,
    pub disabled: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl UserOut {
    /// The account as shown, its phone decrypted with `key`.
    pub fn new(u: crate::db::models::User, key: &crate::crypto::DataKey) -> Self {
        UserOut {
            phone: u.phone_in_clear(key),
            role: u.role,
            id: u.id,
            email: u.email,
            display_name: u.display_name,
            village_id: u.village_id,
            township_id: u.township_id,
            insurer_id: u.insurer_id,
            email_verified: u.email_verified,
            disabled: u.disabled,
            created_at: u.created_at.and_utc(),
        }
    }
}

pub fn created<T: Serialize>(location: String, body: &T) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((actix_web::http::header::LOCATION, location))
        .json(body)
}

/// Collects routes so they are registered grouped by path (one resource per path, so a wrong
/// method is 405 with `Allow`) and so tests can compare them with the OpenAPI document.
#[derive(Default)]
pub struct Routes {
    entries: Vec<(String, Method, Route)>,
}

impl Routes {
    pub fn add<F, Args>(&mut self, method: Method, path: &str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.entries.push((
            path.to_string(),
            method.clone(),
            web::method(method).to(handler),
        ));
        self
    }

    pub fn list(&self) -> Vec<(Method, String)> {
        self.entries
            .iter()
            .map(|(p, m, _)| (m.clone(), p.clone()))
            .collect()
    }

    /// Registers every path as one resource (its methods, else 405 with `Allow`), nested in
    /// scopes by its static head (`/api/v1/listings`) and then by a first dynamic segment
    /// (`/{id}`): actix tries the resources of a level one after the other, each dynamic one
    /// by a regular expression, so a flat table of every path made each request run a few
    /// dozen of them. Within a level, static paths come before the dynamic segment's scope, so
    /// `/listings/mine` is never taken for a listing id.
    pub fn register(self, cfg: &mut web::ServiceConfig) {
        let mut tree = RouteTree::default();
        for (path, method, route) in self.entries {
            tree.insert(&path, &path, method, route);
        }
        tree.register(cfg);
    }
}

/// One path of a level: below the level, whole, and its methods.
type PathRoutes = (String, String, Vec<(Method, Route)>);

/// The paths of one level: resources by their path below the level, and scopes below it.
#[derive(Default)]
struct RouteTree {
    /// Paths in order of first registration.
    resources: Vec<PathRoutes>,
    /// Scopes in order: static heads first when registered.
    scopes: Vec<(String, RouteTree)>,
}

impl RouteTree {
    fn insert(&mut self, path: &str, whole: &str, method: Method, route: Route) {
        match split_scope(path) {
            Some((head, rest)) => {
                let at = match self.scopes.iter().position(|(h, _)| h == head) {
                    Some(i) => i,
                    None => {
                        self.scopes.push((head.to_string(), RouteTree::default()));
                        self.scopes.len() - 1
                    }
                };
                self.scopes[at].1.insert(rest, whole, method, route);
            }
            None => match self.resources.iter_mut().find(|(p, _, _)| p == path) {
                Some((_, _, routes)) => routes.push((method, route)),
                None => self.resources.push((
                    path.to_string(),
                    whole.to_string(),
                    vec![(method, route)],
                )),
            },
        }
    }

    fn register(self, cfg: &mut web::ServiceConfig) {
        for (path, whole, routes) in self.resources {
            cfg.service(resource(&path, routes).app_data(RouteLabel(whole.into())));
        }
        // Static heads before dynamic ones (`/mine` before `/{id}`).
        let (fixed, dynamic): (Vec<_>, Vec<_>) =
            self.scopes.into_iter().partition(|(h, _)| !h.contains('{'));
        for (head, tree) in fixed.into_iter().chain(dynamic) {
            cfg.service(web::scope(&head).configure(|c| tree.register(c)));
        }
    }
}

/// The scope a path is registered under and the path below it: `/api/v1/<resource>` at the
/// top, then a first segment that is a parameter (`/{id}`: the path itself becomes the scope's
/// `""`, so a request runs one regular expression for it, not one per resource). `None`: the
/// path is a resource of its level.
fn split_scope(path: &str) -> Option<(&str, &str)> {
    if let Some(below) = path.strip_prefix("/api/v1/") {
        let end = below.find('/').map_or(path.len(), |i| "/api/v1/".len() + i);
        let head = &path[..end];
        return (!head.contains('{')).then(|| (head, &path[end..]));
    }
    let below = path.strip_prefix("/{")?;
    let end = 2 + below.find('}')? + 1;
    (path.len() == end || path[end..].starts_with('/')).then(|| (&path[..end], &path[end..]))
}

/// The route a request was answered by (its path pattern, e.g. `/api/v1/listings/{id}/bids`),
/// set on every resource as its data: the metrics' `route` label, read after the answer
/// without matching the path again (actix's `match_pattern` runs the routes' regular
/// expressions once more).
#[derive(Debug, Clone)]
pub struct RouteLabel(pub std::sync::Arc<str>);

/// One path's resource: its methods, and 405 with `Allow` for any other.
fn resource(path: &str, routes: Vec<(Method, Route)>) -> actix_web::Resource {
    let allow = routes
        .iter()
        .map(|(m, _)| m.as_str().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let mut res = web::resource(path);
    for (_, r) in routes {
        res = res.route(r);
    }
    res.default_service(web::to(move || {
        let allow = allow.clone();
        async move {
            let mut r = actix_web::ResponseError::error_response(&ApiError::MethodNotAllowed);
            if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&allow) {
                r.headers_mut().insert(actix_web::http::header::ALLOW, v);
            }
            r
        }
    }))
}

/// Every route of the service, in one table.
pub fn routes() -> Routes {
    let mut r = Routes::default();
    service::routes(&mut r);
    docs::routes(&mut r);
    auth::routes(&mut r);
    users::routes(&mut r);
    orgs::routes(&mut r);
    parcels::routes(&mut r);
    listings::routes(&mut r);
    registrations::routes(&mut r);
    auction::routes(&mut r);
    contracts::routes(&mut r);
    insurance::routes(&mut r);
    clock::routes(&mut r);
    open_data::routes(&mut r);
    stats::routes(&mut r);
    audit_trail::routes(&mut r);
    signals::routes(&mut r);
    pages::routes(&mut r);
    documents::routes(&mut r);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Option<Inner>,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: i64,
    }

    fn field_of(e: ApiError) -> String {
        match e {
            ApiError::Validation(v) => v[0].field.clone(),
            other => panic!("expected validation, got {other:?}"),
        }
    }

    #[test]
    fn json_errors_name_fields() {
        assert!(matches!(
            parse_json::<Body>(b"{"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse_json::<Body>(b"{} x"),
            Err(ApiError::BadRequest(_))
        ));
        assert_eq!(field_of(parse_json::<Body>(b"{}").unwrap_err()), "name");
        assert_eq!(
            field_of(parse_json::<Body>(br#"{"name":"a","status":1}"#).unwrap_err()),
            "status"
        );
        assert_eq!(
            field_of(parse_json::<Body>(br#"{"name":1}"#).unwrap_err()),
            "name"
        );
        assert_eq!(
            field_of(parse_json::<Body>(br#"{"name":"a","inner":{"n":"x"}}"#).unwrap_err()),
            "inner.n"
        );
        assert_eq!(
            field_of(parse_json::<Body>(br#"{"name":"a","inner":{}}"#).unwrap_err()),
            "inner.n"
        );
        assert_eq!(field_of(parse_json::<Body>(b"[]").unwrap_err()), "body");
        // serde alone would read a struct from an array of its fields in order
        assert_eq!(
            field_of(parse_json::<Body>(br#"["a", null]"#).unwrap_err()),
            "body"
        );
        assert!(parse_empty(b"[]").is_err());
        assert!(parse_empty(b"").is_ok() && parse_empty(b" {} ").is_ok());
    }

    #[derive(Debug, Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: Option<String>,
        inner: Option<InnerSchema>,
    }
    #[derive(Debug, Deserialize, ToSchema)]
    #[allow(dead_code)]
    struct InnerSchema {
        n: Option<i64>,
    }

    #[test]
    fn bodies_and_their_object_fields_must_be_objects() {
        assert_eq!(
            field_of(parse_body::<Outer>(b"[null, null]").unwrap_err()),
            "body"
        );
        assert_eq!(field_of(parse_body::<Outer>(b"7").unwrap_err()), "body");
        assert_eq!(
            field_of(parse_body::<Outer>(br#"{"inner": [5]}"#).unwrap_err()),
            "inner"
        );
        assert!(parse_body::<Outer>(br#"{"inner": {"n": 5}, "name": "x"}"#).is_ok());
        assert!(parse_body::<Outer>(br#"{"inner": null}"#).is_ok());
        assert!(parse_body::<Outer>(b"").is_ok());
    }

    #[test]
    fn cursors_round_trip() {
        let id = uuid::Uuid::now_v7().to_string();
        assert_eq!(decode_cursor(&encode_cursor(&id)).unwrap(), id);
        assert!(decode_cursor("!!").is_err());
    }
}
