//! The reference web console (issue 15): plain ES modules and CSS from `web/`, embedded in the
//! binary, served at `/` and under `/app/`. The console talks to the public API only; this
//! module just hands out its files.
//!
//! - `/` and every `/app/...` path that isn't an asset answer `index.html` (the console's
//!   router reads the path), so a screen's address can be bookmarked or reloaded.
//! - `/app/assets/<file>` answers the file with its type, or problem+json 404.
//! - Nothing else is touched: `/api`, `/openapi.json`, `/docs`, `/metrics`, `/healthz`,
//!   `/readyz` keep their own routes and unknown paths keep the problem+json 404.
//!
//! Every answer carries a strict Content-Security-Policy (scripts, styles, images and
//! connections from this origin only; no inline script; the one inline stylesheet allowed is the
//! printable contract's, by its hash, for the print frame) and `Cache-Control: no-cache` with a
//! content-hash `ETag`, so a browser revalidates and gets 304 until the binary changes.

use std::sync::OnceLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// Embeds a file of `web/` under its path relative to `web/`.
macro_rules! asset {
    ($path:literal) => {
        ($path, include_bytes!(concat!("../../web/", $path)) as &[u8])
    };
}

/// Every file of `web/` (a unit test checks none is missing).
const FILES: &[(&str, &[u8])] = &[
    asset!("index.html"),
    asset!("app.css"),
    asset!("js/main.js"),
    asset!("js/api.js"),
    asset!("js/format.js"),
    asset!("js/ui.js"),
    asset!("js/labels.js"),
    asset!("js/geo.js"),
    asset!("js/public.js"),
    asset!("js/account.js"),
    asset!("js/live.js"),
    asset!("js/investor.js"),
    asset!("js/contract.js"),
    asset!("js/collective.js"),
    asset!("js/staff.js"),
    asset!("js/insurer.js"),
    asset!("js/admin.js"),
];

const ASSET_PREFIX: &str = "assets/";

struct Asset {
    body: &'static [u8],
    content_type: &'static str,
    etag: String,
}

struct Console {
    assets: std::collections::HashMap<&'static str, Asset>,
    csp: String,
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn console() -> &'static Console {
    static CONSOLE: OnceLock<Console> = OnceLock::new();
    CONSOLE.get_or_init(|| {
        let assets = FILES
            .iter()
            .map(|(path, body)| {
                let digest = Sha256::digest(body);
                let asset = Asset {
                    body,
                    content_type: content_type(path),
                    etag: format!("\"{}\"", hex::encode(&digest[..12])),
                };
                (*path, asset)
            })
            .collect();
        let contract_style = base64::engine::general_purpose::STANDARD
            .encode(Sha256::digest(crate::render::contract::STYLE.as_bytes()));
        let csp = format!(
            "default-src 'none'; script-src 'self'; style-src 'self' 'sha256-{contract_style}'; \
             img-src 'self' data:; font-src 'self'; connect-src 'self'; frame-src 'self'; \
             base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        );
        Console { assets, csp }
    })
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(page("/").route(web::get().to(index)))
        .service(page("/app").route(web::get().to(index)))
        .service(page("/app/{tail:.*}").route(web::get().to(app_path)));
}

/// The console's resource at `path`, labelled with it for the metrics (as `Routes` labels the
/// API's).
fn page(path: &str) -> actix_web::Resource {
    web::resource(path).app_data(super::RouteLabel(path.into()))
}

async fn index(req: HttpRequest) -> HttpResponse {
    serve(&req, "index.html")
}

async fn app_path(req: HttpRequest, tail: web::Path<String>) -> Result<HttpResponse, ApiError> {
    match tail.strip_prefix(ASSET_PREFIX) {
        Some(file) if console().assets.contains_key(file) && file != "index.html" => {
            Ok(serve(&req, file))
        }
        Some(_) => Err(ApiError::NotFound),
        None => Ok(serve(&req, "index.html")),
    }
}

fn serve(req: &HttpRequest, path: &str) -> HttpResponse {
    let c = console();
    let Some(asset) = c.assets.get(path) else {
        return actix_web::ResponseError::error_response(&ApiError::NotFound);
    };
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == asset.etag));
    let mut res = if fresh {
        HttpResponse::NotModified().finish()
    } else {
        HttpResponse::Ok()
            .content_type(asset.content_type)
            .body(asset.body)
    };
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&asset.etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&c.csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file under `web/` is embedded, and nothing embedded is missing from `web/`.
    #[test]
    fn every_web_file_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        let mut on_disk = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("web dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let rel = path.strip_prefix(&root).expect("under web");
                    on_disk.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(p, _)| p.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn types_by_extension() {
        assert_eq!(content_type("js/api.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("app.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
    }
}
