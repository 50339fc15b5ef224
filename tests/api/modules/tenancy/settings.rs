//! The tenant's settings over HTTP: every member reads them, owners and admins set the
//! time zone (checked against the IANA database, naming `time_zone` otherwise), only
//! ever their own tenant's, and notification previews format in the zone just set.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{TestApp, TestUser, expect_json, expect_problem, spawn_app};

const SETTINGS: &str = "/tenant/settings";

/// The zone stored for `tenant`, read by the owner (not through the API).
async fn stored_zone(app: &TestApp, tenant: Uuid) -> String {
    app.owner_sql()
        .await
        .query_one("SELECT time_zone FROM tenants WHERE id = $1", &[&tenant])
        .await
        .expect("zone")
        .get(0)
}

async fn set_zone(app: &TestApp, user: &TestUser, zone: &str) -> reqwest::Response {
    app.patch(SETTINGS, user, json!({ "time_zone": zone }))
        .await
}

/// A tenant, Acme, whose owner has set its zone to Europe/Zurich.
async fn acme_in_zurich() -> (TestApp, TestUser) {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    expect_json(
        set_zone(&app, &owner, "Europe/Zurich").await,
        StatusCode::OK,
    )
    .await;
    (app, owner)
}

#[tokio::test]
async fn an_owner_sets_the_zone_members_read_it_and_previews_format_in_it() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let member = app.add_member(&owner, "member").await;
    let before = expect_json(app.get(SETTINGS, &member).await, StatusCode::OK).await;
    assert_eq!(
        before,
        json!({ "name": "Acme", "time_zone": "UTC", "locale": "en" })
    );

    let set = expect_json(
        set_zone(&app, &owner, "Europe/Zurich").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        set,
        json!({ "name": "Acme", "time_zone": "Europe/Zurich", "locale": "en" })
    );
    let read = expect_json(app.get(SETTINGS, &member).await, StatusCode::OK).await;
    assert_eq!(read["time_zone"], "Europe/Zurich");
    assert_eq!(stored_zone(&app, owner.tenant_id).await, "Europe/Zurich");

    // A preview without `time_zone` takes the tenant's.
    let preview = expect_json(
        app.post(
            "/notifications/templates/preview",
            &member,
            json!({
                "template": {
                    "key": "viewing_reminder", "channel": "sms",
                    "text": "{{ viewing.scheduled_at | datetime(tz, 'short') }}",
                },
                "variables": { "viewing.scheduled_at": "2026-12-24T17:00:00Z" },
            }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(preview["time_zone"], "Europe/Zurich");
    assert_eq!(preview["text"], "2026-12-24 18:00");

    // An admin may too.
    let admin = app.add_member(&owner, "admin").await;
    let set = expect_json(set_zone(&app, &admin, "Asia/Tokyo").await, StatusCode::OK).await;
    assert_eq!(set["time_zone"], "Asia/Tokyo");
    assert_eq!(stored_zone(&app, owner.tenant_id).await, "Asia/Tokyo");
}

#[tokio::test]
async fn members_and_read_only_members_get_403_and_change_nothing() {
    let (app, owner) = acme_in_zurich().await;
    for role in ["member", "read_only"] {
        let user = app.add_member(&owner, role).await;
        let problem = expect_problem(
            set_zone(&app, &user, "Asia/Tokyo").await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("owners and admins")),
            "{problem}"
        );
        assert_eq!(stored_zone(&app, owner.tenant_id).await, "Europe/Zurich");
    }
}

#[tokio::test]
async fn an_unknown_zone_is_a_422_naming_time_zone_and_changes_nothing() {
    let (app, owner) = acme_in_zurich().await;
    for wrong in [
        "Mars/Olympus_Mons",
        "europe/zurich",
        "Europe/Zurich/",
        "+01:00",
        "",
    ] {
        let problem = expect_problem(
            set_zone(&app, &owner, wrong).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        let errors: Vec<&Value> = problem["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .collect();
        assert_eq!(errors.len(), 1, "{wrong:?}: {problem}");
        assert_eq!(errors[0]["field"], "time_zone", "{wrong:?}: {problem}");
        assert!(
            errors[0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("IANA time zone such as Europe/Zurich")),
            "{wrong:?}: {problem}"
        );
    }
    // No setting at all; fields that are not settings are ignored.
    expect_problem(
        app.patch(SETTINGS, &owner, json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let ignored = app
        .patch(
            SETTINGS,
            &owner,
            json!({ "time_zone": "Europe/Zurich", "name": "Renamed", "status": "suspended" }),
        )
        .await;
    expect_json(ignored, StatusCode::OK).await;
    assert_eq!(stored_zone(&app, owner.tenant_id).await, "Europe/Zurich");
    let read = expect_json(app.get(SETTINGS, &owner).await, StatusCode::OK).await;
    assert_eq!(
        read,
        json!({ "name": "Acme", "time_zone": "Europe/Zurich", "locale": "en" })
    );
}

#[tokio::test]
async fn another_tenants_patch_never_changes_this_tenants_zone() {
    let app = spawn_app().await;
    let a = app.sign_up("Tenant A").await;
    let b = app.sign_up("Tenant B").await;
    expect_json(set_zone(&app, &a, "Europe/Zurich").await, StatusCode::OK).await;
    let set = expect_json(set_zone(&app, &b, "America/New_York").await, StatusCode::OK).await;
    assert_eq!(
        set,
        json!({ "name": "Tenant B", "time_zone": "America/New_York", "locale": "en" })
    );
    assert_eq!(stored_zone(&app, a.tenant_id).await, "Europe/Zurich");
    assert_eq!(stored_zone(&app, b.tenant_id).await, "America/New_York");
    let read = expect_json(app.get(SETTINGS, &a).await, StatusCode::OK).await;
    assert_eq!(
        read,
        json!({ "name": "Tenant A", "time_zone": "Europe/Zurich", "locale": "en" })
    );
}
