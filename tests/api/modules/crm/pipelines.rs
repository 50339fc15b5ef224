//! Pipelines over real HTTP: every tenant starts with the default pipeline (the stages
//! deals always had); owners and admins add pipelines with their own stages and moves;
//! a deal cannot take another pipeline's stage without moving there (which maps its
//! stage); lost reasons are required once the tenant keeps a list; the summary counts,
//! weighs and finds rotting deals; and another tenant's pipelines answer like missing ids.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{
    TestApp, TestUser, error_fields, expect_json, expect_problem, id_of, spawn_app,
};

async fn pipelines(app: &TestApp, user: &TestUser) -> Vec<Value> {
    let list = expect_json(app.get("/pipelines", user).await, StatusCode::OK).await;
    list["items"].as_array().expect("items").clone()
}

fn renewals() -> Value {
    json!({
        "name": "Renewals",
        "stages": [
            { "key": "DUE", "name": "Due", "probability": 70, "rot_days": 30 },
            { "key": "NEW", "name": "Talking" },
            { "key": "RENEWED", "name": "Renewed", "kind": "won" },
            { "key": "CHURNED", "name": "Churned", "kind": "lost" },
        ],
    })
}

async fn deal_in(app: &TestApp, user: &TestUser, body: Value) -> Value {
    app.create("/deals", user, body).await
}

/// The fields a 422 answer names.
async fn refused(response: reqwest::Response) -> Vec<String> {
    error_fields(&expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await)
}

#[tokio::test]
async fn every_tenant_starts_with_the_default_pipeline_of_the_four_stages() {
    let app = spawn_app().await;
    let owner = app.sign_up("Agency").await;
    let all = pipelines(&app, &owner).await;
    assert_eq!(all.len(), 1, "{all:?}");
    let default = &all[0];
    assert_eq!(default["is_default"], true);
    assert_eq!(default["moves"], "listed");
    let stages: Vec<(&str, &str)> = default["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| {
            (
                s["key"].as_str().expect("key"),
                s["kind"].as_str().expect("kind"),
            )
        })
        .collect();
    assert_eq!(
        stages,
        [
            ("NEW", "open"),
            ("NEGOTIATION", "open"),
            ("CLOSED_WON", "won"),
            ("CLOSED_LOST", "lost")
        ]
    );
    let deal = deal_in(&app, &owner, json!({ "title": "Plain" })).await;
    assert_eq!(deal["pipeline_id"], default["id"]);
    assert_eq!(deal["stage"], "NEW");

    // The default pipeline is not deleted, nor stops being the default by itself.
    let path = format!("/pipelines/{}", id_of(default));
    expect_problem(app.delete(&path, &owner).await, StatusCode::CONFLICT).await;
    assert_eq!(
        refused(
            app.patch(&path, &owner, json!({ "is_default": false }))
                .await
        )
        .await,
        ["is_default"]
    );
}

#[tokio::test]
async fn a_deal_takes_another_pipelines_stage_only_by_moving_there_which_maps_its_stage() {
    let app = spawn_app().await;
    let owner = app.sign_up("Agency").await;
    let member = app.add_member(&owner, "member").await;
    expect_problem(
        app.post("/pipelines", &member, renewals()).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let second = app.create("/pipelines", &owner, renewals()).await;
    let second_id = id_of(&second);
    assert_eq!(second["moves"], "from_open");
    assert_eq!(
        second["stages"][1]["probability"], 50,
        "an open stage's default"
    );
    assert_eq!(
        second["stages"][2]["probability"], 100,
        "a won stage's default"
    );

    let deal = deal_in(
        &app,
        &member,
        json!({ "title": "Licence", "stage": "NEGOTIATION" }),
    )
    .await;
    let path = format!("/deals/{}", id_of(&deal));
    assert_eq!(
        refused(
            app.patch(&path, &member, json!({ "stage": "RENEWED" }))
                .await
        )
        .await,
        ["stage"]
    );

    // Into the other pipeline: NEGOTIATION is not one of its keys, so the deal takes
    // its first open stage; the history says from where to where.
    let moved = expect_json(
        app.patch(&path, &member, json!({ "pipeline_id": second_id }))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (moved["pipeline_id"].as_str(), moved["stage"].as_str()),
        (Some(second_id.as_str()), Some("DUE"))
    );
    let history = expect_json(
        app.get(&format!("{path}/history"), &member).await,
        StatusCode::OK,
    )
    .await;
    let last = history["items"]
        .as_array()
        .expect("items")
        .last()
        .expect("a change")
        .clone();
    assert_eq!(last["from_pipeline_id"], deal["pipeline_id"]);
    assert_eq!(
        (last["from_stage"].as_str(), last["to_stage"].as_str()),
        (Some("NEGOTIATION"), Some("DUE"))
    );

    // `from_open`: an open stage goes anywhere, even straight to won; a won deal only reopens.
    let won = expect_json(
        app.patch(&path, &member, json!({ "stage": "RENEWED" }))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(won["stage"], "RENEWED");
    assert_eq!(
        refused(
            app.patch(&path, &member, json!({ "stage": "CHURNED" }))
                .await
        )
        .await,
        ["stage"]
    );

    // Back to the default pipeline keeping a key it has: NEW exists there too.
    let default_id = deal["pipeline_id"].as_str().expect("pipeline").to_owned();
    expect_json(
        app.patch(&path, &member, json!({ "stage": "NEW" })).await,
        StatusCode::OK,
    )
    .await;
    let back = expect_json(
        app.patch(&path, &member, json!({ "pipeline_id": default_id }))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(back["stage"], "NEW");

    // A stage holding deals is neither deleted nor given another kind; nor its pipeline.
    let in_due = deal_in(
        &app,
        &member,
        json!({ "title": "Due", "pipeline_id": second_id }),
    )
    .await;
    assert_eq!(
        in_due["stage"], "DUE",
        "a new deal starts in the first stage"
    );
    let stage_path = format!("/pipelines/{second_id}/stages/DUE");
    expect_problem(app.delete(&stage_path, &owner).await, StatusCode::CONFLICT).await;
    expect_problem(
        app.patch(&stage_path, &owner, json!({ "kind": "won" }))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    expect_problem(
        app.delete(&format!("/pipelines/{second_id}"), &owner).await,
        StatusCode::CONFLICT,
    )
    .await;
    let renamed = expect_json(
        app.patch(
            &stage_path,
            &owner,
            json!({ "name": "Up for renewal", "rot_days": null }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(renamed["name"], "Up for renewal");
    assert!(renamed.get("rot_days").is_none(), "{renamed}");
}

#[tokio::test]
async fn a_listed_pipeline_allows_only_its_moves_and_a_lost_deal_names_a_reason() {
    let app = spawn_app().await;
    let owner = app.sign_up("Agency").await;
    let mut body = renewals();
    body["moves"] = json!("listed");
    body["allowed_moves"] = json!([{ "from_stage": "DUE", "to_stage": "CHURNED" }]);
    let pipeline = app.create("/pipelines", &owner, body).await;
    let pipeline_id = id_of(&pipeline);
    let deal = deal_in(
        &app,
        &owner,
        json!({ "title": "Licence", "pipeline_id": pipeline_id }),
    )
    .await;
    let path = format!("/deals/{}", id_of(&deal));
    assert_eq!(
        refused(
            app.patch(&path, &owner, json!({ "stage": "RENEWED" }))
                .await
        )
        .await,
        ["stage"],
        "not listed"
    );

    // Once the tenant keeps lost reasons, losing a deal names one of them.
    let reason = id_of(
        &app.create("/lost-reasons", &owner, json!({ "name": "Price" }))
            .await,
    );
    assert_eq!(
        refused(
            app.patch(&path, &owner, json!({ "stage": "CHURNED" }))
                .await
        )
        .await,
        ["lost_reason_id"]
    );
    assert_eq!(
        refused(
            app.patch(
                &path,
                &owner,
                json!({ "stage": "CHURNED", "lost_reason_id": Uuid::now_v7() }),
            )
            .await
        )
        .await,
        ["lost_reason_id"],
        "an unknown reason"
    );
    let lost = expect_json(
        app.patch(
            &path,
            &owner,
            json!({ "stage": "CHURNED", "lost_reason_id": reason }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(lost["lost_reason_id"], json!(reason));
    assert_eq!(
        refused(
            app.post(
                "/deals",
                &owner,
                json!({ "title": "Odd", "lost_reason_id": reason }),
            )
            .await
        )
        .await,
        ["lost_reason_id"],
        "only a lost deal has one"
    );

    // Opening the pipeline's moves lets the lost deal reopen, dropping its reason.
    let opened = expect_json(
        app.patch(
            &format!("/pipelines/{pipeline_id}"),
            &owner,
            json!({ "moves": "from_open" }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(opened["allowed_moves"], json!([]));
    let reopened = expect_json(
        app.patch(&path, &owner, json!({ "stage": "DUE" })).await,
        StatusCode::OK,
    )
    .await;
    assert!(reopened.get("lost_reason_id").is_none(), "{reopened}");
}

#[tokio::test]
async fn the_summary_counts_weighs_and_finds_rotting_deals_per_stage() {
    let app = spawn_app().await;
    let owner = app.sign_up("Agency").await;
    let pipeline_id = id_of(&app.create("/pipelines", &owner, renewals()).await);
    for (title, amount, currency) in [("a", 1_000, "EUR"), ("b", 3_000, "EUR"), ("c", 5, "USD")] {
        deal_in(
            &app,
            &owner,
            json!({ "title": title, "pipeline_id": pipeline_id, "amount_minor": amount, "currency": currency }),
        )
        .await;
    }
    let summary = expect_json(
        app.get(&format!("/pipelines/{pipeline_id}/summary"), &owner)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(summary["pipeline_id"], json!(pipeline_id));
    assert_eq!(
        summary["stages"][0],
        json!({ "stage": "DUE", "name": "Due", "kind": "open", "probability": 70, "count": 3,
                "rotting": 0, "amounts": [
                    { "currency": "EUR", "amount_minor": "4000", "weighted_minor": "2800" },
                    { "currency": "USD", "amount_minor": "5", "weighted_minor": "3" },
                ] })
    );
    assert_eq!(summary["stages"].as_array().expect("stages").len(), 4);
    assert_eq!(summary["stages"][3]["count"], 0);

    // A stage that rots after a day: the deals entered it now, so none rot yet — and
    // the default pipeline's summary (`/deals/summary`) knows nothing of these deals.
    let deals_summary = expect_json(app.get("/deals/summary", &owner).await, StatusCode::OK).await;
    assert!(
        deals_summary["stages"]
            .as_array()
            .expect("stages")
            .iter()
            .all(|s| s["count"] == 0)
    );
}

#[tokio::test]
async fn another_tenants_pipelines_stages_and_reasons_answer_like_missing_ones() {
    let app = spawn_app().await;
    let alice = app.sign_up("Alpha").await;
    let bob = app.sign_up("Beta").await;
    let theirs = id_of(&app.create("/pipelines", &alice, renewals()).await);
    let reason = id_of(
        &app.create("/lost-reasons", &alice, json!({ "name": "Price" }))
            .await,
    );
    let missing = Uuid::now_v7();
    for (theirs, missing) in [
        (
            format!("/pipelines/{theirs}"),
            format!("/pipelines/{missing}"),
        ),
        (
            format!("/pipelines/{theirs}/summary"),
            format!("/pipelines/{missing}/summary"),
        ),
        (
            format!("/lost-reasons/{reason}"),
            format!("/lost-reasons/{missing}"),
        ),
    ] {
        let a = expect_problem(app.get(&theirs, &bob).await, StatusCode::NOT_FOUND).await;
        let b = expect_problem(app.get(&missing, &bob).await, StatusCode::NOT_FOUND).await;
        assert_eq!(a, b, "{theirs}");
    }
    let stage = format!("/pipelines/{theirs}/stages/DUE");
    expect_problem(
        app.patch(&stage, &bob, json!({ "name": "Mine" })).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_problem(app.delete(&stage, &bob).await, StatusCode::NOT_FOUND).await;
    expect_problem(
        app.post(
            &format!("/pipelines/{theirs}/stages"),
            &bob,
            json!({ "key": "X", "name": "X" }),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(
        pipelines(&app, &bob).await.len(),
        1,
        "only Beta's own default"
    );

    // Their pipeline as a deal's: exactly like one that does not exist.
    for pipeline in [theirs.clone(), missing.to_string()] {
        assert_eq!(
            refused(
                app.post(
                    "/deals",
                    &bob,
                    json!({ "title": "x", "pipeline_id": pipeline }),
                )
                .await
            )
            .await,
            ["pipeline_id"]
        );
    }
    assert_eq!(
        refused(
            app.post(
                "/deals",
                &bob,
                json!({ "title": "x", "stage": "CLOSED_LOST", "lost_reason_id": reason }),
            )
            .await
        )
        .await,
        ["lost_reason_id"]
    );
    let b_deal = deal_in(&app, &bob, json!({ "title": "Mine" })).await;
    assert_eq!(
        refused(
            app.patch(
                &format!("/deals/{}", id_of(&b_deal)),
                &bob,
                json!({ "pipeline_id": theirs }),
            )
            .await
        )
        .await,
        ["pipeline_id"]
    );
}
