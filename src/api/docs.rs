//! The OpenAPI document (generated from the handlers) and the vendored Swagger UI.

use actix_web::http::Method;
use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::Routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "landx API", version = "1",
        description = "Rural land management-rights exchange: public trading + performance insurance (公开交易 + 履约保险)."),
    paths(
        super::service::get_health, super::service::get_readiness, super::service::get_metrics,
        super::auth::register_account, super::auth::verify_email, super::auth::login_account, super::auth::refresh_tokens,
        super::auth::logout_account, super::auth::request_password_reset, super::auth::confirm_password_reset,
        super::auth::accept_invitation, super::auth::get_me,
        super::users::create_user, super::users::list_users, super::users::get_user,
        super::users::disable_user,
        super::orgs::list_townships, super::orgs::create_township, super::orgs::get_township,
        super::orgs::list_villages, super::orgs::create_village, super::orgs::get_village,
        super::orgs::list_insurers, super::orgs::create_insurer,
        super::orgs::patch_village, super::orgs::patch_township,
        super::parcels::create_parcel, super::parcels::list_parcels, super::parcels::get_parcel,
        super::parcels::patch_parcel,
        super::listings::create_listing, super::listings::search_listings, super::listings::get_listing,
        super::listings::patch_listing, super::listings::submit_listing, super::listings::approve_listing,
        super::listings::return_listing, super::listings::cancel_listing, super::listings::relist_listing,
        super::registrations::create_registration, super::registrations::list_listing_registrations,
        super::registrations::get_registration, super::registrations::list_my_registrations,
        super::registrations::qualify_registration, super::registrations::reject_registration,
        super::registrations::confirm_deposit, super::registrations::refund_deposit,
        super::auction::place_bid, super::auction::list_bids, super::auction::stream_listing_events,
        super::auction::get_deal, super::auction::confirm_deal, super::auction::decline_deal,
        super::contracts::list_contracts, super::contracts::get_contract,
        super::contracts::get_contract_document,
        super::contracts::sign_contract, super::contracts::certify_contract,
        super::contracts::cancel_contract, super::contracts::terminate_contract,
        super::contracts::list_contract_installments, super::contracts::list_installments,
        super::contracts::list_payments, super::contracts::record_payment,
        super::insurance::quote_policy, super::insurance::list_policies, super::insurance::get_policy,
        super::insurance::issue_policy, super::insurance::cancel_policy,
        super::insurance::file_claim, super::insurance::list_claims, super::insurance::get_claim,
        super::insurance::review_claim, super::insurance::approve_claim, super::insurance::reject_claim,
        super::insurance::pay_claim, super::insurance::write_off_claim, super::insurance::record_recovery,
        super::clock::get_clock, super::clock::advance_clock,
        super::open_data::list_open_deals, super::open_data::list_open_deals_csv, super::open_data::get_open_deal, super::open_data::list_open_data_changes,
        super::stats::get_stats,
        super::audit_trail::get_audit_stream,
        super::signals::list_listing_signals, super::signals::list_township_signals,
        super::documents::upload_document, super::documents::list_documents,
        super::documents::get_document, super::documents::get_document_content,
        super::documents::delete_document,
    ),
    components(schemas(crate::error::Problem, crate::error::FieldError, super::documents::DocumentOwner)),
    modifiers(&CommonResponses),
)]
pub struct ApiDoc;

/// Adds the error answers every operation can give, as problem+json, and the bearer scheme.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        let problem = |desc: &str| {
            ResponseBuilder::new()
                .description(desc)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        describe_uploads(doc);
        // Every failure is answered as problem+json, whatever a handler's attribute says.
        for item in doc.paths.paths.values_mut() {
            let ops = [
                item.get.as_mut(),
                item.post.as_mut(),
                item.put.as_mut(),
                item.patch.as_mut(),
                item.delete.as_mut(),
            ];
            for op in ops.into_iter().flatten() {
                for (code, resp) in op.responses.responses.iter_mut() {
                    if code.as_str() >= "400" {
                        if let utoipa::openapi::RefOr::T(r) = resp {
                            let desc = r.description.clone();
                            *r = problem(&desc);
                        }
                    }
                }
            }
        }
        for (path, item) in doc.paths.paths.iter_mut() {
            let public_service = matches!(path.as_str(), "/healthz" | "/metrics");
            let ops = [
                (item.get.as_mut(), false),
                (item.post.as_mut(), true),
                (item.put.as_mut(), false),
                (item.patch.as_mut(), false),
                (item.delete.as_mut(), false),
            ];
            for (op, is_post) in ops.into_iter().filter_map(|(op, p)| op.map(|op| (op, p))) {
                let protected = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let mut codes: Vec<(&str, &str)> = vec![("500", "internal error")];
                if !public_service {
                    codes.extend([
                        ("400", "malformed request"),
                        ("404", "not found"),
                        ("413", "body over 1 MiB"),
                        ("422", "validation failed"),
                        ("503", "database unavailable"),
                    ]);
                }
                if protected {
                    codes.extend([("401", "missing or invalid token"), ("403", "not allowed")]);
                }
                if protected && is_post {
                    // Idempotency-Key (API.md): a duplicate still running after 10 s, or whose
                    // claim a retry took over.
                    codes.push((
                        "409",
                        "conflict (or a duplicate Idempotency-Key request still running)",
                    ));
                }
                for (code, desc) in codes {
                    op.responses
                        .responses
                        .entry(code.to_string())
                        .or_insert_with(|| problem(desc).into());
                }
            }
        }
    }
}

/// A document upload's body is the raw file: one binary body per accepted type, and no 413
/// of the JSON limit (its own limit is `documents.max_bytes`).
fn describe_uploads(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::request_body::RequestBodyBuilder;
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
    for item in doc.paths.paths.values_mut() {
        let Some(op) = item.post.as_mut() else {
            continue;
        };
        if op.operation_id.as_deref() != Some("upload_document") {
            continue;
        }
        let mut body = RequestBodyBuilder::new()
            .description(Some(
                "the file itself: a PDF, JPEG or PNG (checked by its first bytes)",
            ))
            .required(Some(utoipa::openapi::Required::True));
        for mime in crate::domain::document::MediaType::ALL.map(|m| m.mime()) {
            let binary = ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)));
            body = body.content(mime, ContentBuilder::new().schema(Some(binary)).build());
        }
        op.request_body = Some(body.build());
    }
}

pub fn routes(r: &mut Routes) {
    r.add(Method::GET, "/openapi.json", openapi_json)
        .add(Method::GET, "/docs", docs_index)
        .add(Method::GET, "/docs/", docs_index)
        .add(Method::GET, "/docs/swagger-ui.css", docs_css)
        .add(Method::GET, "/docs/swagger-ui-bundle.js", docs_js);
}

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

async fn docs_index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(&include_bytes!("../../static/swagger-ui/index.html")[..])
}

async fn docs_css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .body(&include_bytes!("../../static/swagger-ui/swagger-ui.css")[..])
}

async fn docs_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .body(&include_bytes!("../../static/swagger-ui/swagger-ui-bundle.js")[..])
}
