//! `/users` over HTTP: who may add and change members, the last-owner rule, people in
//! several tenants, and deactivation.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{PASSWORD, TestApp, TestUser, expect_json, expect_problem, id_of, spawn_app};

async fn member_json(app: &TestApp, viewer: &TestUser, id: Uuid) -> Value {
    expect_json(
        app.get(&format!("/users/{id}"), viewer).await,
        StatusCode::OK,
    )
    .await
}

async fn role_of(app: &TestApp, user: &TestUser) -> Value {
    expect_json(app.get("/auth/me", user).await, StatusCode::OK).await["role"].clone()
}

#[tokio::test]
async fn an_owner_adds_members_of_every_role_and_each_logs_in_with_it() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let admin = app.add_member(&owner, "admin").await;
    let member = app.add_member(&owner, "member").await;
    let read_only = app.add_member(&owner, "read_only").await;

    for (user, role) in [
        (&admin, "admin"),
        (&member, "member"),
        (&read_only, "read_only"),
    ] {
        assert_eq!(
            user.tenant_id, owner.tenant_id,
            "{role} is in the owner's tenant"
        );
        assert_eq!(role_of(&app, user).await, role);
        let listed = member_json(&app, &owner, user.user_id).await;
        assert_eq!(listed["role"], role);
        assert_eq!(listed["active"], true);
        assert_eq!(listed["email"], user.email.as_str());
    }

    let list = expect_json(app.get("/users", &read_only).await, StatusCode::OK).await;
    let ids: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    let expected = [&owner, &admin, &member, &read_only].map(|u| u.user_id.to_string());
    assert_eq!(ids, expected, "every member, oldest membership first");
    assert!(
        !list.to_string().contains("password"),
        "no password or hash in the list: {list}"
    );
}

#[tokio::test]
async fn read_only_members_read_everything_and_write_nothing() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let read_only = app.add_member(&owner, "read_only").await;
    let colleague = app.add_member(&owner, "member").await;
    let contact = app.create_contact(&owner, "Ada").await;
    let company = app
        .create("/companies", &owner, json!({ "name": "Acme Ltd" }))
        .await;
    let deal = app
        .create("/deals", &owner, json!({ "title": "Renewal" }))
        .await;

    let objects = [
        ("/contacts", &contact, json!({ "first_name": "Changed" })),
        ("/companies", &company, json!({ "name": "Changed" })),
        ("/deals", &deal, json!({ "title": "Changed" })),
    ];
    let colleague_id = colleague.user_id.to_string();
    let mut writes = vec![
        (
            Method::POST,
            "/contacts".to_owned(),
            Some(json!({ "first_name": "New", "last_name": "One" })),
        ),
        (
            Method::POST,
            "/companies".to_owned(),
            Some(json!({ "name": "New" })),
        ),
        (
            Method::POST,
            "/deals".to_owned(),
            Some(json!({ "title": "New" })),
        ),
        (
            Method::POST,
            "/users".to_owned(),
            Some(
                json!({ "email": "new@example.test", "full_name": "New", "role": "member", "password": PASSWORD }),
            ),
        ),
        (
            Method::PATCH,
            format!("/users/{colleague_id}"),
            Some(json!({ "active": false })),
        ),
    ];
    for (collection, object, patch) in &objects {
        let path = format!("{collection}/{}", id_of(object));
        writes.push((Method::PATCH, path.clone(), Some(patch.clone())));
        writes.push((Method::DELETE, path, None));
    }
    for (method, path, body) in writes {
        let response = app.call(method.clone(), &path, &read_only, body).await;
        expect_problem(response, StatusCode::FORBIDDEN).await;
    }

    for (collection, object, _) in &objects {
        let path = format!("{collection}/{}", id_of(object));
        let unchanged = expect_json(app.get(&path, &read_only).await, StatusCode::OK).await;
        assert_eq!(&unchanged, *object, "{path} is readable and unchanged");
        let list = expect_json(app.get(collection, &read_only).await, StatusCode::OK).await;
        assert_eq!(
            list["items"].as_array().map(Vec::len),
            Some(1),
            "{collection}: nothing was added"
        );
    }
    expect_json(app.get("/deals/summary", &read_only).await, StatusCode::OK).await;
    let history = format!("/deals/{}/history", id_of(&deal));
    expect_json(app.get(&history, &read_only).await, StatusCode::OK).await;
    assert_eq!(
        member_json(&app, &read_only, colleague.user_id).await["active"],
        true
    );
    let members = expect_json(app.get("/users", &read_only).await, StatusCode::OK).await;
    assert_eq!(members["items"].as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn plain_members_cannot_manage_users() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let member = app.add_member(&owner, "member").await;
    let other = app.add_member(&owner, "read_only").await;

    let add = app
        .post(
            "/users",
            &member,
            json!({ "email": "friend@example.test", "full_name": "Friend", "role": "member", "password": PASSWORD }),
        )
        .await;
    expect_problem(add, StatusCode::FORBIDDEN).await;
    for (target, patch) in [
        (&other, json!({ "role": "admin" })),
        (&member, json!({ "role": "admin" })),
        (&owner, json!({ "active": false })),
    ] {
        let response = app
            .patch(&format!("/users/{}", target.user_id), &member, patch)
            .await;
        expect_problem(response, StatusCode::FORBIDDEN).await;
    }

    assert_eq!(
        member_json(&app, &owner, other.user_id).await["role"],
        "read_only"
    );
    assert_eq!(
        member_json(&app, &owner, member.user_id).await["role"],
        "member"
    );
    assert_eq!(
        member_json(&app, &owner, owner.user_id).await["active"],
        true
    );
    let list = expect_json(app.get("/users", &owner).await, StatusCode::OK).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn admins_manage_members_but_never_owners() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let admin = app.add_member(&owner, "admin").await;
    let member = app.add_member(&owner, "member").await;

    let new_owner = app
        .post(
            "/users",
            &admin,
            json!({ "email": "boss@example.test", "full_name": "Boss", "role": "owner", "password": PASSWORD }),
        )
        .await;
    expect_problem(new_owner, StatusCode::FORBIDDEN).await;
    let promote = app
        .patch(
            &format!("/users/{}", member.user_id),
            &admin,
            json!({ "role": "owner" }),
        )
        .await;
    expect_problem(promote, StatusCode::FORBIDDEN).await;
    let owner_before = member_json(&app, &owner, owner.user_id).await;
    for patch in [
        json!({ "role": "member" }),
        json!({ "active": false }),
        json!({ "active": true }),
    ] {
        let response = app
            .patch(&format!("/users/{}", owner.user_id), &admin, patch)
            .await;
        expect_problem(response, StatusCode::FORBIDDEN).await;
    }

    assert_eq!(member_json(&app, &owner, owner.user_id).await, owner_before);
    assert_eq!(
        member_json(&app, &owner, member.user_id).await["role"],
        "member"
    );
    let list = expect_json(app.get("/users", &owner).await, StatusCode::OK).await;
    assert!(
        !list.to_string().contains("boss@example.test"),
        "no owner was added: {list}"
    );

    // What an admin may do: manage non-owners.
    let demoted = app
        .patch(
            &format!("/users/{}", member.user_id),
            &admin,
            json!({ "role": "read_only" }),
        )
        .await;
    assert_eq!(
        expect_json(demoted, StatusCode::OK).await["role"],
        "read_only"
    );
}

#[tokio::test]
async fn the_last_active_owner_can_be_neither_demoted_nor_deactivated() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let admin = app.add_member(&owner, "admin").await;
    let before = member_json(&app, &owner, owner.user_id).await;

    for patch in [
        json!({ "role": "admin" }),
        json!({ "active": false }),
        json!({ "role": "owner", "active": false }),
    ] {
        let response = app
            .patch(&format!("/users/{}", owner.user_id), &owner, patch.clone())
            .await;
        let problem = expect_problem(response, StatusCode::CONFLICT).await;
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("owner")),
            "{patch}: {problem}"
        );
    }
    let empty = app
        .patch(&format!("/users/{}", owner.user_id), &owner, json!({}))
        .await;
    expect_problem(empty, StatusCode::UNPROCESSABLE_ENTITY).await;

    assert_eq!(member_json(&app, &owner, owner.user_id).await, before);
    let tokens = expect_json(app.log_in(&owner.email, None).await, StatusCode::OK).await;
    let again = app.user_from_tokens(owner.email.clone(), &tokens).await;
    assert_eq!(role_of(&app, &again).await, "owner");
    assert_eq!(
        member_json(&app, &owner, admin.user_id).await["role"],
        "admin"
    );

    // With a second owner, the first may step down.
    let second = app
        .patch(
            &format!("/users/{}", admin.user_id),
            &owner,
            json!({ "role": "owner" }),
        )
        .await;
    expect_json(second, StatusCode::OK).await;
    let stepped_down = app
        .patch(
            &format!("/users/{}", owner.user_id),
            &owner,
            json!({ "role": "admin" }),
        )
        .await;
    assert_eq!(
        expect_json(stepped_down, StatusCode::OK).await["role"],
        "admin"
    );
}

#[tokio::test]
async fn two_owners_demoting_each_other_at_once_leave_exactly_one_owner() {
    let app = spawn_app().await;
    // A few rounds, each in its own tenant, to give a missing lock a chance to show.
    for round in 0..3 {
        let first = app.sign_up(&format!("Round {round}")).await;
        let second = app.add_member(&first, "owner").await;
        let (second_path, first_path) = (
            format!("/users/{}", second.user_id),
            format!("/users/{}", first.user_id),
        );
        let demote = json!({ "role": "member" });
        let (a, b) = tokio::join!(
            app.patch(&second_path, &first, demote.clone()),
            app.patch(&first_path, &second, demote.clone()),
        );
        // The demotion that runs second finds its caller already demoted: refused
        // with 403 (the membership decides, not the token).
        let mut statuses = [a.status(), b.status()];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::FORBIDDEN],
            "round {round}: exactly one demotion succeeds"
        );
        // The refused request's target is the owner who remains.
        let (refused, remaining, demoted) = if a.status() == StatusCode::OK {
            (b, &first, &second)
        } else {
            (a, &second, &first)
        };
        expect_problem(refused, StatusCode::FORBIDDEN).await;

        let list = expect_json(app.get("/users", remaining).await, StatusCode::OK).await;
        let owners: Vec<&Value> = list["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|m| m["role"] == "owner" && m["active"] == true)
            .collect();
        assert_eq!(owners.len(), 1, "round {round}: {list}");
        assert_eq!(
            owners[0]["id"],
            remaining.user_id.to_string(),
            "round {round}: the target of the refused demotion is still the owner"
        );
        assert_eq!(
            member_json(&app, remaining, demoted.user_id).await["role"],
            "member"
        );
    }
}

#[tokio::test]
async fn a_person_in_two_tenants_chooses_one_at_login() {
    let app = spawn_app().await;
    let acme = app.sign_up("Acme").await;
    let globex = app.sign_up("Globex").await;
    let person = app.add_member(&acme, "member").await;
    // Joining a second tenant is by invitation, accepted by the person; a verified
    // account keeps its name and password (the password given is ignored).
    let token = app
        .invite(&globex, &person.email.to_uppercase(), "admin")
        .await;
    let joined = app
        .post_anonymous(
            "/auth/invitations/accept",
            json!({ "token": token, "full_name": "Other Name", "password": "another password entirely" }),
        )
        .await;
    let joined = app
        .user_from_tokens(
            person.email.clone(),
            &expect_json(joined, StatusCode::OK).await,
        )
        .await;
    assert_eq!(joined.user_id, person.user_id, "same identity");
    assert_eq!(joined.tenant_id, globex.tenant_id);
    let listed = member_json(&app, &globex, person.user_id).await;
    assert_eq!(listed["full_name"], "A member");
    assert_eq!(listed["role"], "admin");

    let ambiguous = expect_problem(
        app.log_in(&person.email, None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(ambiguous["errors"][0]["field"], "tenant", "{ambiguous}");
    let choices = ambiguous["errors"][0]["message"].as_str().expect("message");
    for tenant in [acme.tenant_id, globex.tenant_id] {
        assert!(choices.contains(&tenant.to_string()), "{choices}");
    }

    for (tenant, name, role) in [
        (globex.tenant_id, "Globex", "admin"),
        (acme.tenant_id, "Acme", "member"),
    ] {
        let tokens = expect_json(
            app.log_in(&person.email, Some(tenant)).await,
            StatusCode::OK,
        )
        .await;
        let user = app.user_from_tokens(person.email.clone(), &tokens).await;
        let me = expect_json(app.get("/auth/me", &user).await, StatusCode::OK).await;
        assert_eq!(me["tenant_id"], tenant.to_string());
        assert_eq!(me["tenant_name"], name);
        assert_eq!(me["role"], role);
        assert_eq!(me["user_id"], person.user_id.to_string());
    }

    let stranger = app.sign_up("Initech").await;
    let not_a_member = app.log_in(&person.email, Some(stranger.tenant_id)).await;
    expect_problem(not_a_member, StatusCode::UNAUTHORIZED).await;
    let old_password = app
        .post_anonymous(
            "/auth/login",
            json!({ "email": person.email, "password": "another password entirely", "tenant": globex.tenant_id }),
        )
        .await;
    expect_problem(old_password, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn adding_someone_who_is_already_a_member_conflicts() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let member = app.add_member(&owner, "member").await;
    for email in [member.email.clone(), owner.email.to_uppercase()] {
        let again = app
            .post(
                "/users",
                &owner,
                json!({ "email": email, "full_name": "Again", "role": "admin", "password": PASSWORD }),
            )
            .await;
        let problem = expect_problem(again, StatusCode::CONFLICT).await;
        assert!(!problem.to_string().contains("memberships_"), "{problem}");
    }
    assert_eq!(
        member_json(&app, &owner, member.user_id).await["role"],
        "member"
    );
    assert_eq!(
        member_json(&app, &owner, owner.user_id).await["role"],
        "owner"
    );
}

#[tokio::test]
async fn a_deactivated_member_can_neither_log_in_nor_refresh() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let member = app.add_member(&owner, "member").await;

    let deactivated = app
        .patch(
            &format!("/users/{}", member.user_id),
            &owner,
            json!({ "active": false }),
        )
        .await;
    let deactivated = expect_json(deactivated, StatusCode::OK).await;
    assert_eq!(deactivated["active"], false);
    assert_eq!(deactivated["role"], "member", "the role is kept");

    let login = expect_problem(
        app.log_in(&member.email, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let wrong_password = app
        .post_anonymous(
            "/auth/login",
            json!({ "email": owner.email, "password": "wrong password!" }),
        )
        .await;
    let wrong_password = expect_problem(wrong_password, StatusCode::UNAUTHORIZED).await;
    assert_eq!(login, wrong_password, "no hint that the account exists");
    let refresh = app
        .post_anonymous(
            "/auth/refresh",
            json!({ "refresh_token": member.refresh_token }),
        )
        .await;
    expect_problem(refresh, StatusCode::UNAUTHORIZED).await;

    // Already a member, even deactivated: reactivate rather than re-add.
    let re_add = app
        .post(
            "/users",
            &owner,
            json!({ "email": member.email, "full_name": "Again", "role": "member", "password": PASSWORD }),
        )
        .await;
    expect_problem(re_add, StatusCode::CONFLICT).await;
    let reactivated = app
        .patch(
            &format!("/users/{}", member.user_id),
            &owner,
            json!({ "active": true }),
        )
        .await;
    assert_eq!(
        expect_json(reactivated, StatusCode::OK).await["active"],
        true
    );
    expect_json(app.log_in(&member.email, None).await, StatusCode::OK).await;
}

#[tokio::test]
async fn another_tenants_member_answers_like_a_random_id() {
    let app = spawn_app().await;
    let a = app.sign_up("A").await;
    let b = app.sign_up("B").await;
    let a_member = app.add_member(&a, "member").await;
    let before = member_json(&app, &a, a_member.user_id).await;

    for target in [a.user_id, a_member.user_id] {
        let random = Uuid::now_v7();
        let theirs = expect_problem(
            app.get(&format!("/users/{target}"), &b).await,
            StatusCode::NOT_FOUND,
        )
        .await;
        let missing = expect_problem(
            app.get(&format!("/users/{random}"), &b).await,
            StatusCode::NOT_FOUND,
        )
        .await;
        assert_eq!(theirs, missing, "GET");
        for patch in [json!({ "role": "read_only" }), json!({ "active": false })] {
            let theirs = app
                .patch(&format!("/users/{target}"), &b, patch.clone())
                .await;
            let missing = app.patch(&format!("/users/{random}"), &b, patch).await;
            assert_eq!(
                expect_problem(theirs, StatusCode::NOT_FOUND).await,
                expect_problem(missing, StatusCode::NOT_FOUND).await,
                "PATCH"
            );
        }
    }

    assert_eq!(member_json(&app, &a, a_member.user_id).await, before);
    assert_eq!(member_json(&app, &a, a.user_id).await["role"], "owner");
    assert_eq!(member_json(&app, &a, a.user_id).await["active"], true);
    expect_json(app.log_in(&a_member.email, None).await, StatusCode::OK).await;
}

#[tokio::test]
async fn unknown_roles_and_bad_fields_are_a_422() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let member = app.add_member(&owner, "member").await;

    let god = app
        .post(
            "/users",
            &owner,
            json!({ "email": "god@example.test", "full_name": "God", "role": "god", "password": PASSWORD }),
        )
        .await;
    expect_problem(god, StatusCode::UNPROCESSABLE_ENTITY).await;
    let promote = app
        .patch(
            &format!("/users/{}", member.user_id),
            &owner,
            json!({ "role": "superuser" }),
        )
        .await;
    expect_problem(promote, StatusCode::UNPROCESSABLE_ENTITY).await;

    let invalid = app
        .post(
            "/users",
            &owner,
            json!({ "email": "nope", "role": "member" }),
        )
        .await;
    let problem = expect_problem(invalid, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["email"]);
    let invitations = expect_json(app.get("/invitations", &owner).await, StatusCode::OK).await;
    assert_eq!(
        invitations["items"].as_array().map(Vec::len),
        Some(1),
        "only the member's own, accepted invitation: {invitations}"
    );

    assert_eq!(
        member_json(&app, &owner, member.user_id).await["role"],
        "member"
    );
    let list = expect_json(app.get("/users", &owner).await, StatusCode::OK).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2));
}

/// Finding 5: inviting never hashes a password (the invitee chooses theirs), so no
/// tenant spends the argon2 slots every tenant's logins share; an existing member is
/// refused with 409.
#[tokio::test]
async fn inviting_hashes_nothing_and_an_existing_member_is_refused() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let member = app.add_member(&owner, "member").await;
    let hashes = |metrics: String| -> String {
        metrics
            .lines()
            .find(|line| line.starts_with("crm_password_hashes_total "))
            .expect("the counter is exported")
            .to_owned()
    };
    let before = hashes(app.get_raw("/metrics").await.text().await.expect("metrics"));
    let again = app
        .post(
            "/users",
            &owner,
            json!({ "email": member.email.to_uppercase(), "full_name": "Again", "role": "member", "password": PASSWORD }),
        )
        .await;
    expect_problem(again, StatusCode::CONFLICT).await;
    let after = hashes(app.get_raw("/metrics").await.text().await.expect("metrics"));
    assert_eq!(before, after, "no hash was computed");
}

/// Finding 8: `GET /users` is paginated like every list (50k members used to come back
/// as one 9 MB body).
#[tokio::test]
async fn the_member_list_is_keyset_paginated() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let mut expected = vec![owner.user_id.to_string()];
    for _ in 0..4 {
        expected.push(app.add_member(&owner, "member").await.user_id.to_string());
    }
    let mut seen = Vec::new();
    let mut path = "/users?limit=2".to_owned();
    loop {
        let page = expect_json(app.get(&path, &owner).await, StatusCode::OK).await;
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|m| m["id"].as_str().expect("id").to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/users?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, expected, "every member once, oldest first");
    expect_problem(
        app.get("/users?limit=0", &owner).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    expect_problem(
        app.get("/users?cursor=forged", &owner).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}
