//! Notification templates over HTTP: versions (the newest in force, the history
//! readable), the defaults for keys a tenant has not written, checks at save time that
//! name the unknown variable or the line of a syntax error, a sandbox that stops
//! runaway templates with a 422, never a 500, and another tenant's templates answering
//! exactly like ids that do not exist.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{TestApp, TestUser, expect_json, expect_problem, id_of, spawn_app};

const TEMPLATES: &str = "/notifications/templates";
const PREVIEW: &str = "/notifications/templates/preview";

fn reminder(text: &str) -> Value {
    json!({
        "key": "viewing_reminder",
        "channel": "email",
        "locale": "de-ch",
        "subject": "Erinnerung: {{ property.title }}",
        "text": text,
        "html": "<p>Hallo {{ contact.first_name }}</p>",
    })
}

/// The `(field, message)` pairs of a 422.
async fn refused(response: reqwest::Response) -> Vec<(String, String)> {
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|error| {
            (
                error["field"].as_str().expect("field").to_owned(),
                error["message"].as_str().expect("message").to_owned(),
            )
        })
        .collect()
}

async fn saved_count(app: &TestApp) -> i64 {
    app.owner_sql()
        .await
        .query_one("SELECT count(*) FROM notification_templates", &[])
        .await
        .expect("count")
        .get(0)
}

async fn inline_preview(app: &TestApp, user: &TestUser, text: &str) -> reqwest::Response {
    app.post(
        PREVIEW,
        user,
        json!({ "template": { "key": "viewing_reminder", "channel": "sms", "text": text } }),
    )
    .await
}

#[tokio::test]
async fn a_new_version_is_in_force_and_the_history_keeps_both() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;

    let first = app
        .create(
            TEMPLATES,
            &owner,
            reminder("Hallo {{ contact.first_name }}, bis {{ viewing.scheduled_at | datetime(tz, 'short') }}"),
        )
        .await;
    assert_eq!(
        (&first["version"], &first["in_force"], &first["locale"]),
        (&json!(1), &json!(true), &json!("de-CH"))
    );
    let second = app
        .create(
            TEMPLATES,
            &owner,
            reminder("Guten Tag {{ contact.last_name }}"),
        )
        .await;
    assert_eq!(
        (&second["version"], &second["in_force"]),
        (&json!(2), &json!(true))
    );
    // Another locale is another template.
    let english = app
        .create(
            TEMPLATES,
            &owner,
            json!({ "key": "viewing_reminder", "channel": "sms", "text": "See you, {{ contact.first_name }}" }),
        )
        .await;
    assert_eq!(
        (&english["version"], &english["locale"]),
        (&json!(1), &json!("en"))
    );

    let in_force = expect_json(app.get(TEMPLATES, &owner).await, StatusCode::OK).await;
    let ids: Vec<&str> = in_force["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, [id_of(&second), id_of(&english)]);
    let filtered = expect_json(
        app.get(&format!("{TEMPLATES}?locale=de-CH&channel=email"), &owner)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(filtered["items"].as_array().expect("items").len(), 1);

    for id in [id_of(&first), id_of(&second)] {
        let history = expect_json(
            app.get(&format!("{TEMPLATES}/{id}/versions"), &owner).await,
            StatusCode::OK,
        )
        .await;
        let versions: Vec<&Value> = history["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|t| &t["version"])
            .collect();
        assert_eq!(versions, [&json!(2), &json!(1)]);
    }
    let page = expect_json(
        app.get(
            &format!("{TEMPLATES}/{}/versions?limit=1", id_of(&first)),
            &owner,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let rest = expect_json(
        app.get(
            &format!(
                "{TEMPLATES}/{}/versions?limit=1&cursor={cursor}",
                id_of(&first)
            ),
            &owner,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rest["items"][0]["id"], first["id"]);
    assert!(rest.get("next_cursor").is_none(), "{rest}");

    let old = expect_json(
        app.get(&format!("{TEMPLATES}/{}", id_of(&first)), &owner)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (&old["version"], &old["in_force"]),
        (&json!(1), &json!(false))
    );
    assert_eq!(old["text"], first["text"]);

    // The wording in force for de-CH: the tenant's own reminder email, its English
    // SMS (the fallback), and the defaults for the rest.
    let effective = expect_json(
        app.get("/notifications/effective-templates?locale=de-CH", &owner)
            .await,
        StatusCode::OK,
    )
    .await;
    let items = effective["items"].as_array().expect("items");
    assert_eq!(items.len(), 10, "{effective}");
    let find = |key: &str, channel: &str| {
        items
            .iter()
            .find(|t| t["key"] == key && t["channel"] == channel)
            .unwrap_or_else(|| panic!("{key}/{channel} in {effective}"))
    };
    let email = find("viewing_reminder", "email");
    assert_eq!(
        (&email["source"], &email["template_id"], &email["locale"]),
        (&json!("tenant"), &second["id"], &json!("de-CH"))
    );
    let sms = find("viewing_reminder", "sms");
    assert_eq!(
        (&sms["source"], &sms["template_id"], &sms["locale"]),
        (&json!("tenant"), &english["id"], &json!("en"))
    );
    let invitation = find("invitation", "email");
    assert_eq!(invitation["source"], "default");
    assert!(invitation.get("template_id").is_none());
    assert!(
        invitation["text"]
            .as_str()
            .expect("text")
            .contains("{{ invitation.link }}")
    );
}

#[tokio::test]
async fn defaults_render_with_sample_data_and_previews_take_the_callers_values() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let member = app.add_member(&owner, "member").await;
    let effective = expect_json(
        app.get("/notifications/effective-templates", &member).await,
        StatusCode::OK,
    )
    .await;
    let keys = expect_json(
        app.get("/notifications/template-keys", &member).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(keys["items"].as_array().expect("items").len(), 6);
    for default in effective["items"].as_array().expect("items") {
        assert_eq!(default["source"], "default");
        let mut template = json!({
            "key": default["key"], "channel": default["channel"], "text": default["text"],
        });
        for part in ["subject", "html"] {
            if let Some(value) = default.get(part) {
                template[part] = value.clone();
            }
        }
        let preview = expect_json(
            app.post(PREVIEW, &member, json!({ "template": template }))
                .await,
            StatusCode::OK,
        )
        .await;
        let text = preview["text"].as_str().expect("text");
        assert!(!text.contains("{{") && !text.is_empty(), "{preview}");
        assert_eq!(preview["time_zone"], "UTC");
    }

    // A saved version by id, with the caller's values and zone.
    let saved = app
        .create(
            TEMPLATES,
            &owner,
            json!({
                "key": "viewing_confirmation", "channel": "email",
                "subject": "Booked: {{ property.title }}",
                "text": "Hi {{ contact.first_name }}, {{ viewing.scheduled_at | datetime(tz, 'short') }}",
                "html": "<p>Hi {{ contact.first_name }}</p>",
            }),
        )
        .await;
    let preview = expect_json(
        app.post(
            PREVIEW,
            &member,
            json!({
                "template_id": saved["id"],
                "variables": { "contact.first_name": "<Zoë>", "viewing.scheduled_at": "2026-12-24T17:00:00Z" },
                "time_zone": "Europe/Zurich",
            }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(preview["subject"], "Booked: Sunny three-room flat");
    assert_eq!(preview["text"], "Hi <Zoë>, 2026-12-24 18:00");
    assert_eq!(preview["html"], "<p>Hi &lt;Zoë&gt;</p>");
    assert_eq!(preview["time_zone"], "Europe/Zurich");

    // A value for a variable the key does not offer is named.
    let errors = refused(
        app.post(
            PREVIEW,
            &member,
            json!({ "template_id": saved["id"], "variables": { "invitation.link": "x" } }),
        )
        .await,
    )
    .await;
    assert_eq!(errors[0].0, "variables.invitation.link", "{errors:?}");
}

#[tokio::test]
async fn unknown_variables_syntax_errors_and_oversize_parts_are_422s_and_save_nothing() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;

    let errors = refused(
        app.post(
            TEMPLATES,
            &owner,
            reminder("Hallo {{ contact.first_name }} {{ contact.salary }} {{ tenant.secret }}"),
        )
        .await,
    )
    .await;
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors.iter().all(|(field, _)| field == "text"),
        "{errors:?}"
    );
    assert!(errors[0].1.contains("`contact.salary`"), "{errors:?}");
    assert!(errors[1].1.contains("`tenant.secret`"), "{errors:?}");

    let errors = refused(
        app.post(
            TEMPLATES,
            &owner,
            reminder("Hallo\n\n{% for x in %}{% endfor %}"),
        )
        .await,
    )
    .await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "text");
    assert!(
        errors[0].1.starts_with("line 3: syntax error"),
        "{errors:?}"
    );

    let mut body = reminder("Fine");
    body["html"] = json!("<p>\n{{ contact.first_name }</p>");
    let errors = refused(app.post(TEMPLATES, &owner, body).await).await;
    assert_eq!(errors[0].0, "html");
    assert!(errors[0].1.starts_with("line 2:"), "{errors:?}");

    let errors = refused(
        app.post(TEMPLATES, &owner, reminder(&"x".repeat(20_001)))
            .await,
    )
    .await;
    assert_eq!(errors[0].0, "text", "{errors:?}");

    // A runaway loop is refused at save time too: the trial render runs out of fuel.
    let errors = refused(
        app.post(
            TEMPLATES,
            &owner,
            reminder(
                "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            ),
        )
        .await,
    )
    .await;
    assert!(errors[0].1.contains("too much work"), "{errors:?}");

    // Parts that do not belong to the channel, and a channel the key does not offer.
    let errors = refused(
        app.post(
            TEMPLATES,
            &owner,
            json!({ "key": "invitation", "channel": "sms", "subject": "x", "text": "x" }),
        )
        .await,
    )
    .await;
    let fields: Vec<&str> = errors.iter().map(|(field, _)| field.as_str()).collect();
    assert_eq!(fields, ["channel", "subject"], "{errors:?}");

    assert_eq!(
        saved_count(&app).await,
        0,
        "a refused template wrote nothing"
    );
}

#[tokio::test]
async fn runaway_templates_are_stopped_at_preview_with_a_422_never_a_500() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let member = app.add_member(&owner, "member").await;
    for (source, expected) in [
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            "too much work",
        ),
        ("{% for i in range(1000000) %}x{% endfor %}", "line 1:"),
        (
            "{% macro down(n) %}{{ down(n + 1) }}{% endmacro %}{{ down(0) }}",
            "line 1:",
        ),
        ("{{ 'x' * 1000000000 }}", "line 1:"),
        ("{% for i in range(2000) %}x{% endfor %}", "more than 1530"),
        ("{{ contact['nickname'] }}", "undefined"),
        (
            "{{ viewing.scheduled_at | datetime('Mars/Olympus') }}",
            "time zone",
        ),
    ] {
        let errors = refused(inline_preview(&app, &member, source).await).await;
        assert_eq!(errors[0].0, "template.text", "{source}: {errors:?}");
        assert!(errors[0].1.contains(expected), "{source}: {errors:?}");
    }
}

#[tokio::test]
async fn members_read_and_preview_but_only_owners_and_admins_save() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let member = app.add_member(&owner, "member").await;
    let admin = app.add_member(&owner, "admin").await;
    let body = reminder("Hallo {{ contact.first_name }}");
    expect_problem(
        app.post(TEMPLATES, &member, body.clone()).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(saved_count(&app).await, 0);
    let saved = app.create(TEMPLATES, &admin, body).await;
    let read = expect_json(
        app.get(&format!("{TEMPLATES}/{}", id_of(&saved)), &member)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(read["id"], saved["id"]);
    expect_json(
        app.post(PREVIEW, &member, json!({ "template_id": saved["id"] }))
            .await,
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn another_tenants_templates_answer_like_ids_that_do_not_exist() {
    let app = spawn_app().await;
    let a = app.sign_up("Acme").await;
    let b = app.sign_up("Bravo").await;
    let first = app
        .create(TEMPLATES, &a, reminder("A's {{ contact.first_name }}"))
        .await;
    let second = app.create(TEMPLATES, &a, reminder("A's second")).await;
    let random = Uuid::now_v7().to_string();

    for id in [id_of(&first), id_of(&second)] {
        for path in [
            format!("{TEMPLATES}/{id}"),
            format!("{TEMPLATES}/{id}/versions"),
        ] {
            let theirs = expect_problem(app.get(&path, &b).await, StatusCode::NOT_FOUND).await;
            let none = expect_problem(
                app.get(&path.replace(&id, &random), &b).await,
                StatusCode::NOT_FOUND,
            )
            .await;
            assert_eq!(theirs, none, "{path}");
        }
        let theirs = expect_problem(
            app.post(PREVIEW, &b, json!({ "template_id": id })).await,
            StatusCode::NOT_FOUND,
        )
        .await;
        let none = expect_problem(
            app.post(PREVIEW, &b, json!({ "template_id": random }))
                .await,
            StatusCode::NOT_FOUND,
        )
        .await;
        assert_eq!(theirs, none);
    }

    // B's lists show nothing of A's; B saving the same key, channel and locale starts
    // its own history at version 1 and leaves A's alone.
    let b_list = expect_json(app.get(TEMPLATES, &b).await, StatusCode::OK).await;
    assert_eq!(b_list["items"], json!([]));
    let b_effective = expect_json(
        app.get("/notifications/effective-templates?locale=de-CH", &b)
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(!b_effective.to_string().contains(&id_of(&second)));
    assert!(
        b_effective["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|t| t["source"] == "default")
    );
    let mine = app.create(TEMPLATES, &b, reminder("B's own")).await;
    assert_eq!(mine["version"], 1);
    let history = expect_json(
        app.get(&format!("{TEMPLATES}/{}/versions", id_of(&second)), &a)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(history["items"].as_array().expect("items").len(), 2);
    assert!(!history.to_string().contains(&id_of(&mine)));
}
