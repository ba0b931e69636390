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
    }
}

diesel::joinable!(villages -> townships (township_id));

diesel::allow_tables_to_appear_in_same_query!(
    townships,
    villages,
    insurers,
    users,
    refresh_tokens,
    one_time_tokens,
    outbox,
    audit_streams,
    audit_log,
);
