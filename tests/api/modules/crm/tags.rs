//! Tags over real HTTP, with real tokens: writers create tags and put them on
//! contacts, companies and deals, lists filter by them; owners and admins rename,
//! merge and delete them; names are unique per tenant whatever their case; and
//! another tenant's tags and records answer exactly like ids that do not exist.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{
    TestApp, TestUser, error_fields, expect_json, expect_problem, id_of, spawn_app,
};

async fn create_tag(app: &TestApp, user: &TestUser, name: &str) -> String {
    id_of(&app.create("/tags", user, json!({ "name": name })).await)
}

async fn put(app: &TestApp, user: &TestUser, path: &str) -> StatusCode {
    app.call(Method::PUT, path, user, None).await.status()
}

/// The names of `path`'s tags (`GET /{resource}/{id}/tags`).
async fn tag_names(app: &TestApp, user: &TestUser, path: &str) -> Vec<String> {
    let tags = expect_json(app.get(path, user).await, StatusCode::OK).await;
    tags["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["name"].as_str().expect("name").to_owned())
        .collect()
}

/// The ids a list answers.
async fn listed(app: &TestApp, user: &TestUser, path: &str) -> Vec<String> {
    let page = expect_json(app.get(path, user).await, StatusCode::OK).await;
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(id_of)
        .collect()
}

#[tokio::test]
async fn tags_go_on_contacts_companies_and_deals_and_their_lists_filter_by_them() {
    let app = spawn_app().await;
    let owner = app.sign_up("Agency").await;
    let member = app.add_member(&owner, "member").await;
    let vip = create_tag(&app, &member, "VIP").await;
    let taken = app.post("/tags", &member, json!({ "name": " vip " })).await;
    expect_problem(taken, StatusCode::CONFLICT).await;

    let ada = id_of(&app.create_contact(&member, "Ada").await);
    let bob = id_of(&app.create_contact(&member, "Bob").await);
    let company = id_of(
        &app.create("/companies", &member, json!({ "name": "Engines" }))
            .await,
    );
    let deal = id_of(
        &app.create(
            "/deals",
            &member,
            json!({ "title": "Difference engine", "amount_minor": 1000, "currency": "GBP" }),
        )
        .await,
    );
    for record in [
        format!("/contacts/{ada}"),
        format!("/companies/{company}"),
        format!("/deals/{deal}"),
    ] {
        let path = format!("{record}/tags/{vip}");
        assert_eq!(
            put(&app, &member, &path).await,
            StatusCode::NO_CONTENT,
            "{path}"
        );
        assert_eq!(
            put(&app, &member, &path).await,
            StatusCode::NO_CONTENT,
            "{path} again"
        );
        assert_eq!(
            tag_names(&app, &owner, &format!("{record}/tags")).await,
            ["VIP"]
        );
    }
    assert_eq!(
        listed(&app, &owner, &format!("/contacts?tag_id={vip}")).await,
        [ada.as_str()]
    );
    assert_eq!(
        listed(&app, &owner, &format!("/companies?tag_id={vip}")).await,
        [company.as_str()]
    );
    assert_eq!(
        listed(&app, &owner, &format!("/deals?tag_id={vip}")).await,
        [deal.as_str()]
    );
    assert_eq!(
        listed(&app, &owner, "/contacts").await.len(),
        2,
        "unfiltered: both"
    );
    assert!(
        tag_names(&app, &owner, &format!("/contacts/{bob}/tags"))
            .await
            .is_empty()
    );

    // Off again: once; a second time there is nothing to take off.
    let path = format!("/contacts/{ada}/tags/{vip}");
    assert_eq!(
        app.delete(&path, &member).await.status(),
        StatusCode::NO_CONTENT
    );
    expect_problem(app.delete(&path, &member).await, StatusCode::NOT_FOUND).await;
    assert!(
        listed(&app, &owner, &format!("/contacts?tag_id={vip}"))
            .await
            .is_empty()
    );

    // A read-only member reads but does not tag; an unknown tag or record is a 404.
    let reader = app.add_member(&owner, "read_only").await;
    assert_eq!(
        tag_names(&app, &reader, &format!("/deals/{deal}/tags")).await,
        ["VIP"]
    );
    expect_problem(
        app.call(Method::PUT, &path, &reader, None).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_problem(
        app.post("/tags", &reader, json!({ "name": "Mine" })).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let nowhere = Uuid::now_v7();
    for path in [
        format!("/contacts/{ada}/tags/{nowhere}"),
        format!("/contacts/{nowhere}/tags/{vip}"),
    ] {
        expect_problem(
            app.call(Method::PUT, &path, &member, None).await,
            StatusCode::NOT_FOUND,
        )
        .await;
    }
    expect_problem(
        app.get(&format!("/contacts/{nowhere}/tags"), &member).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn managers_rename_merge_and_delete_tags_across_every_record() {
    let app = spawn_app().await;
    let owner = app.sign_up("Agency").await;
    let member = app.add_member(&owner, "member").await;
    let lead = create_tag(&app, &member, "Lead").await;
    let prospect = create_tag(&app, &member, "Prospect").await;
    let ada = id_of(&app.create_contact(&member, "Ada").await);
    let bob = id_of(&app.create_contact(&member, "Bob").await);
    let company = id_of(
        &app.create("/companies", &member, json!({ "name": "Engines" }))
            .await,
    );
    for path in [
        format!("/contacts/{ada}/tags/{lead}"),
        format!("/contacts/{bob}/tags/{lead}"),
        format!("/contacts/{bob}/tags/{prospect}"),
        format!("/companies/{company}/tags/{lead}"),
    ] {
        assert_eq!(
            put(&app, &member, &path).await,
            StatusCode::NO_CONTENT,
            "{path}"
        );
    }

    // Members may not change what every record shows.
    let tag_path = format!("/tags/{lead}");
    let merge_path = format!("{tag_path}/merge");
    for response in [
        app.patch(&tag_path, &member, json!({ "name": "Leads" }))
            .await,
        app.delete(&tag_path, &member).await,
        app.post(&merge_path, &member, json!({ "into_tag_id": prospect }))
            .await,
    ] {
        expect_problem(response, StatusCode::FORBIDDEN).await;
    }

    // Renamed: every record shows it; a name another tag has is a 409, whatever the case.
    let renamed = expect_json(
        app.patch(
            &tag_path,
            &owner,
            json!({ "name": "Leads", "color": "#1D4ED8" }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (&renamed["name"], &renamed["color"]),
        (&json!("Leads"), &json!("#1d4ed8"))
    );
    assert_eq!(
        tag_names(&app, &owner, &format!("/companies/{company}/tags")).await,
        ["Leads"]
    );
    expect_problem(
        app.patch(&tag_path, &owner, json!({ "name": "PROSPECT" }))
            .await,
        StatusCode::CONFLICT,
    )
    .await;

    // Merged: Lead's records carry Prospect (Bob once), and Lead is gone.
    let stranger = app.sign_up("Elsewhere").await;
    let theirs = create_tag(&app, &stranger, "Theirs").await;
    for (into, why) in [
        (lead.clone(), "itself"),
        (Uuid::now_v7().to_string(), "an unknown tag"),
        (theirs, "another tenant's tag"),
    ] {
        let refused = app
            .post(&merge_path, &owner, json!({ "into_tag_id": into }))
            .await;
        let problem = expect_problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error_fields(&problem), ["into_tag_id"], "{why}: {problem}");
    }
    let merged = expect_json(
        app.post(&merge_path, &owner, json!({ "into_tag_id": prospect }))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(id_of(&merged), prospect);
    let mut tagged = listed(&app, &owner, &format!("/contacts?tag_id={prospect}")).await;
    tagged.sort();
    let mut both = vec![ada.clone(), bob.clone()];
    both.sort();
    assert_eq!(tagged, both);
    assert_eq!(
        tag_names(&app, &owner, &format!("/contacts/{bob}/tags")).await,
        ["Prospect"]
    );
    assert_eq!(
        tag_names(&app, &owner, &format!("/companies/{company}/tags")).await,
        ["Prospect"]
    );
    expect_problem(app.get(&tag_path, &owner).await, StatusCode::NOT_FOUND).await;

    // Deleted: off every record.
    assert_eq!(
        app.delete(&format!("/tags/{prospect}"), &owner)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert!(
        tag_names(&app, &owner, &format!("/contacts/{ada}/tags"))
            .await
            .is_empty()
    );
    let tags = expect_json(app.get("/tags", &owner).await, StatusCode::OK).await;
    assert_eq!(tags["items"], json!([]));
}

#[tokio::test]
async fn another_tenants_tags_and_records_answer_like_ids_that_do_not_exist() {
    let app = spawn_app().await;
    let a = app.sign_up("Tenant A").await;
    let b = app.sign_up("Tenant B").await;
    let a_tag = create_tag(&app, &a, "VIP").await;
    let a_contact = id_of(&app.create_contact(&a, "Ada").await);
    assert_eq!(
        put(&app, &a, &format!("/contacts/{a_contact}/tags/{a_tag}")).await,
        StatusCode::NO_CONTENT
    );
    // B's tag of the same name is its own.
    let b_tag = create_tag(&app, &b, "VIP").await;
    let b_contact = id_of(&app.create_contact(&b, "Bea").await);

    let nowhere = Uuid::now_v7();
    let answers = async |path: String, method: Method| -> (StatusCode, Value) {
        let response = app.call(method, &path, &b, None).await;
        let status = response.status();
        let mut body: Value = response.json().await.unwrap_or(Value::Null);
        if let Some(object) = body.as_object_mut() {
            object.remove("instance");
        }
        (status, body)
    };
    for (theirs, unknown, method) in [
        (
            format!("/tags/{a_tag}"),
            format!("/tags/{nowhere}"),
            Method::GET,
        ),
        (
            format!("/contacts/{a_contact}/tags"),
            format!("/contacts/{nowhere}/tags"),
            Method::GET,
        ),
        (
            format!("/contacts/{b_contact}/tags/{a_tag}"),
            format!("/contacts/{b_contact}/tags/{nowhere}"),
            Method::PUT,
        ),
        (
            format!("/contacts/{a_contact}/tags/{b_tag}"),
            format!("/contacts/{nowhere}/tags/{b_tag}"),
            Method::PUT,
        ),
        (
            format!("/contacts/{a_contact}/tags/{a_tag}"),
            format!("/contacts/{nowhere}/tags/{nowhere}"),
            Method::DELETE,
        ),
    ] {
        let (theirs_answer, unknown_answer) = (
            answers(theirs.clone(), method.clone()).await,
            answers(unknown, method).await,
        );
        assert_eq!(theirs_answer.0, StatusCode::NOT_FOUND, "{theirs}");
        assert_eq!(theirs_answer, unknown_answer, "{theirs}");
    }
    assert!(
        listed(&app, &b, &format!("/contacts?tag_id={a_tag}"))
            .await
            .is_empty()
    );
    assert_eq!(
        tag_names(&app, &a, &format!("/contacts/{a_contact}/tags")).await,
        ["VIP"]
    );
}
