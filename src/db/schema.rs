//! Table definitions shared by both backends. Maintained by hand: every SQL type used here
//! must map on PostgreSQL and SQLite alike (Text, BigInt, Bool, Timestamp, Date).

diesel::table! {
    townships (id) {
        id -> Text,
        code -> Text,
        name -> Text,
        insurance_required -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    villages (id) {
        id -> Text,
        township_id -> Text,
        code -> Text,
        name -> Text,
        created_at -> Timestamp,
        legal_name -> Nullable<Text>,
        unified_social_credit_code -> Nullable<Text>,
        legal_representative -> Nullable<Text>,
    }
}

diesel::table! {
    insurers (id) {
        id -> Text,
        code -> Text,
        name -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        password_hash -> Nullable<Text>,
        display_name -> Text,
        phone -> Nullable<Text>,
        role -> Text,
        village_id -> Nullable<Text>,
        township_id -> Nullable<Text>,
        insurer_id -> Nullable<Text>,
        email_verified -> Bool,
        disabled -> Bool,
        token_version -> BigInt,
        failed_logins -> BigInt,
        locked_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        user_id -> Text,
        family_id -> Text,
        token_hash -> Text,
        expires_at -> Timestamp,
        created_at -> Timestamp,
        rotated_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    one_time_tokens (id) {
        id -> Text,
        user_id -> Text,
        purpose -> Text,
        token_hash -> Text,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        to_addr -> Text,
        subject -> Text,
        body -> Text,
        created_at -> Timestamp,
        next_attempt_at -> Timestamp,
        attempts -> BigInt,
        locked_by -> Nullable<Text>,
        locked_until -> Nullable<Timestamp>,
        sent_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    audit_streams (stream) {
        stream -> Text,
        last_seq -> BigInt,
        last_hash -> Text,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Text,
        stream -> Text,
        seq -> BigInt,
        prev_hash -> Text,
        hash -> Text,
        actor_id -> Nullable<Text>,
        actor_role -> Nullable<Text>,
        action -> Text,
        entity_type -> Text,
        entity_id -> Text,
        from_state -> Nullable<Text>,
        to_state -> Nullable<Text>,
        reason -> Nullable<Text>,
        created_at -> Timestamp,
        key_id -> Nullable<Text>,
        amount_fen -> Nullable<BigInt>,
    }
}

diesel::table! {
    parcels (id) {
        id -> Text,
        code -> Text,
        village_id -> Text,
        township_id -> Text,
        area_centimu -> BigInt,
        land_type -> Text,
        permanent_basic_farmland -> Bool,
        quality_grade -> Nullable<BigInt>,
        households -> BigInt,
        household_contract_end -> Date,
        location -> Text,
        boundary_geojson -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    listings (id) {
        id -> Text,
        listing_no -> Nullable<Text>,
        village_id -> Text,
        township_id -> Text,
        created_by -> Text,
        status -> Text,
        is_public -> Bool,
        title -> Text,
        description -> Text,
        intended_use -> Text,
        land_types -> Text,
        term_start -> Date,
        term_end -> Date,
        reserve_price_fen -> BigInt,
        min_increment_fen -> BigInt,
        deposit_fen -> BigInt,
        total_area_centimu -> BigInt,
        annual_reserve_rent_fen -> BigInt,
        registration_closes_at -> Timestamp,
        auction_starts_at -> Timestamp,
        auction_ends_at -> Timestamp,
        extension_secs -> BigInt,
        consent_resolution_date -> Date,
        consent_members_agreeing -> BigInt,
        consent_members_total -> BigInt,
        consent_commissions_received -> BigInt,
        attempt -> BigInt,
        previous_listing_id -> Nullable<Text>,
        relisted_as_id -> Nullable<Text>,
        return_reason -> Nullable<Text>,
        cancel_reason -> Nullable<Text>,
        submitted_at -> Nullable<Timestamp>,
        announced_at -> Nullable<Timestamp>,
        closed_at -> Nullable<Timestamp>,
        eligible_bidders -> Nullable<BigInt>,
        current_price_fen -> Nullable<BigInt>,
        current_ends_at -> Nullable<Timestamp>,
        leading_registration_id -> Nullable<Text>,
        bid_count -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    listing_parcels (listing_id, parcel_id) {
        listing_id -> Text,
        parcel_id -> Text,
    }
}

diesel::table! {
    counters (scope) {
        scope -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    registrations (id) {
        id -> Text,
        listing_id -> Text,
        investor_id -> Text,
        legal_name -> Text,
        id_type -> Text,
        id_number_enc -> Text,
        id_number_masked -> Text,
        phone -> Text,
        experience -> Text,
        business_plan -> Text,
        claims_membership -> Bool,
        member_verified -> Bool,
        status -> Text,
        reject_reason -> Nullable<Text>,
        reviewed_at -> Nullable<Timestamp>,
        deposit_status -> Text,
        deposit_amount_fen -> Nullable<BigInt>,
        deposit_receipt_ref -> Nullable<Text>,
        deposit_confirmed_at -> Nullable<Timestamp>,
        refund_receipt_ref -> Nullable<Text>,
        refunded_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        id_number_hash -> Nullable<Text>,
    }
}

diesel::table! {
    bids (id) {
        id -> Text,
        listing_id -> Text,
        registration_id -> Text,
        seq -> BigInt,
        bidder_no -> BigInt,
        amount_fen -> BigInt,
        priority -> Bool,
        placed_at -> Timestamp,
        extended_to -> Nullable<Timestamp>,
    }
}

diesel::table! {
    deals (id) {
        id -> Text,
        listing_id -> Text,
        registration_id -> Text,
        round -> BigInt,
        negotiated -> Bool,
        confirmation_no -> Text,
        bidder_no -> BigInt,
        price_fen -> BigInt,
        annual_rent_fen -> BigInt,
        status -> Text,
        awarded_at -> Timestamp,
        confirm_by -> Timestamp,
        publicity_ends_at -> Timestamp,
        winner_confirmed_at -> Nullable<Timestamp>,
        collective_confirmed_at -> Nullable<Timestamp>,
        fell_through_at -> Nullable<Timestamp>,
        fall_reason -> Nullable<Text>,
        staff_reminded_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    idempotency_keys (user_id, key) {
        user_id -> Text,
        key -> Text,
        method -> Text,
        path -> Text,
        request_hash -> Text,
        status -> Nullable<BigInt>,
        response_body -> Nullable<Text>,
        location -> Nullable<Text>,
        content_type -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    contracts (id) {
        id -> Text,
        listing_id -> Text,
        deal_id -> Text,
        registration_id -> Text,
        village_id -> Text,
        township_id -> Text,
        status -> Text,
        certification_no -> Nullable<Text>,
        transferor_name -> Nullable<Text>,
        transferor_credit_code -> Nullable<Text>,
        transferor_legal_representative -> Nullable<Text>,
        investor_id -> Text,
        transferee_legal_name -> Text,
        transferee_id_type -> Text,
        transferee_id_number_enc -> Text,
        transferee_id_number_masked -> Text,
        total_area_centimu -> BigInt,
        intended_use -> Text,
        term_start -> Date,
        term_end -> Date,
        years -> BigInt,
        price_fen -> BigInt,
        annual_rent_fen -> BigInt,
        total_rent_fen -> BigInt,
        deposit_fen -> BigInt,
        rent_due_days_before_year -> BigInt,
        insurance_required -> Bool,
        transferor_signed_by -> Nullable<Text>,
        transferor_signed_at -> Nullable<Timestamp>,
        transferee_signed_by -> Nullable<Text>,
        transferee_signed_at -> Nullable<Timestamp>,
        signed_at -> Nullable<Timestamp>,
        certified_by -> Nullable<Text>,
        certified_at -> Nullable<Timestamp>,
        activated_at -> Nullable<Timestamp>,
        completed_at -> Nullable<Timestamp>,
        terminated_by -> Nullable<Text>,
        terminated_at -> Nullable<Timestamp>,
        terminated_on -> Nullable<Date>,
        termination_ground -> Nullable<Text>,
        termination_note -> Nullable<Text>,
        cancelled_by -> Nullable<Text>,
        cancelled_at -> Nullable<Timestamp>,
        cancel_reason -> Nullable<Text>,
        forfeit -> Nullable<Bool>,
        draft_reminded_at -> Nullable<Timestamp>,
        signed_reminded_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    contract_parcels (contract_id, parcel_id) {
        contract_id -> Text,
        parcel_id -> Text,
        code -> Text,
        location -> Text,
        area_centimu -> BigInt,
        land_type -> Text,
        quality_grade -> Nullable<BigInt>,
    }
}

diesel::table! {
    installments (id) {
        id -> Text,
        contract_id -> Text,
        village_id -> Text,
        township_id -> Text,
        investor_id -> Text,
        year -> BigInt,
        period_start -> Date,
        period_end -> Date,
        due_date -> Date,
        amount_fen -> BigInt,
        paid_fen -> BigInt,
        insurer_paid_fen -> BigInt,
        status -> Text,
        reminded_week_before_at -> Nullable<Timestamp>,
        reminded_due_at -> Nullable<Timestamp>,
        reminded_overdue_at -> Nullable<Timestamp>,
        default_notified_at -> Nullable<Timestamp>,
        defaulted_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        policy_reminded_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    payments (id) {
        id -> Text,
        installment_id -> Text,
        contract_id -> Text,
        amount_fen -> BigInt,
        received_on -> Date,
        receipt_ref -> Text,
        kind -> Text,
        recorded_by -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    clock_offset (id) {
        id -> BigInt,
        offset_secs -> BigInt,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    policies (id) {
        id -> Text,
        policy_no -> Nullable<Text>,
        contract_id -> Text,
        installment_id -> Text,
        year -> BigInt,
        insurer_id -> Text,
        village_id -> Text,
        township_id -> Text,
        investor_id -> Text,
        status -> Text,
        period_start -> Date,
        period_end -> Date,
        sum_insured_fen -> BigInt,
        premium_rate_bp -> BigInt,
        premium_fen -> BigInt,
        subsidy_share_bp -> BigInt,
        subsidy_fen -> BigInt,
        holder_premium_fen -> BigInt,
        quoted_by -> Nullable<Text>,
        issued_by -> Nullable<Text>,
        issued_at -> Nullable<Timestamp>,
        cancelled_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    claims (id) {
        id -> Text,
        claim_no -> Text,
        policy_id -> Text,
        installment_id -> Text,
        contract_id -> Text,
        insurer_id -> Text,
        village_id -> Text,
        township_id -> Text,
        investor_id -> Text,
        status -> Text,
        claimed_fen -> BigInt,
        approved_fen -> Nullable<BigInt>,
        paid_fen -> BigInt,
        recovered_fen -> BigInt,
        note -> Text,
        decided_reason -> Nullable<Text>,
        payment_ref -> Nullable<Text>,
        filed_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    recoveries (id) {
        id -> Text,
        claim_id -> Text,
        amount_fen -> BigInt,
        received_on -> Date,
        #[sql_name = "ref"]
        reference -> Text,
        recorded_by -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    open_deals (listing_id) {
        listing_id -> Text,
        feed_seq -> BigInt,
        township_id -> Text,
        village_id -> Text,
        outcome -> Text,
        year -> BigInt,
        body -> Text,
        published_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// One row per throttled client (its key's HMAC): the lock of its window.
    limit_clients (key_hash) {
        key_hash -> Text,
        seen_at -> Timestamp,
    }
}

diesel::table! {
    /// A client's attempts per second (`bucket`: Unix seconds, the attempts' time rounded up).
    limit_client_hits (key_hash, bucket) {
        key_hash -> Text,
        bucket -> BigInt,
        hits -> BigInt,
    }
}

diesel::table! {
    /// Consecutive failed logins per (account or address, client) pair (its key's HMAC).
    limit_logins (key_hash) {
        key_hash -> Text,
        failures -> BigInt,
        locked_until -> Nullable<Timestamp>,
        last_at -> Timestamp,
    }
}

diesel::table! {
    /// One row per distinct uploaded content (content-addressed by SHA-256).
    document_blobs (sha256) {
        sha256 -> Text,
        size_bytes -> BigInt,
        chunk_bytes -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// A blob's bytes in order (absent when contents are kept in `documents.dir`).
    document_chunks (sha256, seq) {
        sha256 -> Text,
        seq -> BigInt,
        bytes -> Binary,
    }
}

diesel::table! {
    /// A document filed with a listing, registration, contract or claim.
    documents (id) {
        id -> Text,
        owner_type -> Text,
        owner_id -> Text,
        kind -> Text,
        filename -> Text,
        content_type -> Text,
        size_bytes -> BigInt,
        sha256 -> Text,
        uploaded_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(bids -> registrations (registration_id));
diesel::joinable!(deals -> registrations (registration_id));
diesel::joinable!(registrations -> listings (listing_id));
diesel::joinable!(listing_parcels -> listings (listing_id));
diesel::joinable!(listing_parcels -> parcels (parcel_id));

diesel::joinable!(villages -> townships (township_id));
diesel::joinable!(limit_client_hits -> limit_clients (key_hash));
diesel::joinable!(contract_parcels -> contracts (contract_id));
diesel::joinable!(installments -> contracts (contract_id));
diesel::joinable!(payments -> installments (installment_id));

diesel::allow_tables_to_appear_in_same_query!(
    open_deals,
    policies,
    claims,
    recoveries,
    contracts,
    contract_parcels,
    installments,
    payments,
    clock_offset,
    townships,
    villages,
    insurers,
    users,
    refresh_tokens,
    one_time_tokens,
    outbox,
    audit_streams,
    audit_log,
    parcels,
    listings,
    listing_parcels,
    counters,
    registrations,
    bids,
    deals,
    idempotency_keys,
    limit_clients,
    limit_client_hits,
    limit_logins,
    document_blobs,
    document_chunks,
    documents,
);
