//! THE list of modules. Adding one (the clinic, say) = its folder, its `mod` line, and
//! its lines here: in [`ALL`] and, if it has an API, in [`Apis`] and [`apis`].

use crate::platform::{
    config::ModuleSelection,
    events::{Catalogue, EventKind},
    module::ModuleInfo,
    state::SharedState,
};

use super::{
    crm::{
        self,
        companies::CompaniesApi,
        contacts::ContactsApi,
        deals::DealsApi,
        pipelines::{LostReasonsApi, PipelinesApi},
        tags::TagsApi,
    },
    identity::{self, invitations::InvitationsApi, sessions::AuthApi, users::UsersApi},
    integrations::{
        mail,
        notifications::{
            self, ConsentsApi, MessagesApi, NotificationsApi, RulesApi, SettingsApi, UnsubscribeApi,
        },
        webhooks::{self, WebhooksApi},
    },
    tenancy::{self, TenantModulesApi, TenantSettingsApi},
    verticals::{Mounted, clinic, real_estate},
};

/// Every module of this build, foundation first. Their migrations are merged in one
/// version order; switchable ones are what `CRM_MODULES` and `/tenant/modules` name.
pub const ALL: &[&ModuleInfo] = &[
    &identity::MODULE,
    &crm::MODULE,
    &tenancy::MODULE,
    &mail::MODULE,
    &webhooks::MODULE,
    &notifications::MODULE,
    &real_estate::MODULE,
    &clinic::MODULE,
];

/// Every API of the service, in the order the docs list them.
pub type Apis = (
    AuthApi,
    UsersApi,
    InvitationsApi,
    (
        ContactsApi,
        CompaniesApi,
        DealsApi,
        PipelinesApi,
        LostReasonsApi,
        TagsApi,
    ),
    TenantModulesApi,
    TenantSettingsApi,
    WebhooksApi,
    NotificationsApi,
    MessagesApi,
    ConsentsApi,
    RulesApi,
    SettingsApi,
    UnsubscribeApi,
    // The verticals, in one tuple: poem-openapi implements `OpenApi` for at most 16.
    (Mounted<real_estate::Api>, Mounted<clinic::Api>),
);

/// Builds [`Apis`], mounting the verticals the deployment serves.
pub fn apis(state: &SharedState) -> Apis {
    (
        AuthApi::new(state.clone()),
        UsersApi::new(state.clone()),
        InvitationsApi::new(state.clone()),
        (
            ContactsApi::new(state.clone()),
            CompaniesApi::new(state.clone()),
            DealsApi::new(state.clone()),
            PipelinesApi::new(state.clone()),
            LostReasonsApi::new(state.clone()),
            TagsApi::new(state.clone()),
        ),
        TenantModulesApi::new(state.clone()),
        TenantSettingsApi::new(state.clone()),
        WebhooksApi::new(state.clone(), events(state)),
        NotificationsApi::new(state.clone()),
        MessagesApi::new(state.clone()),
        ConsentsApi::new(state.clone()),
        RulesApi::new(state.clone()),
        SettingsApi::new(state.clone()),
        UnsubscribeApi::new(state.clone()),
        (
            Mounted::new(state, &real_estate::MODULE, real_estate::api),
            Mounted::new(state, &clinic::MODULE, clinic::api),
        ),
    )
}

/// The event kinds of the modules this deployment serves: every module that cannot be
/// switched off, and the switchable ones `CRM_MODULES` names.
fn events(state: &SharedState) -> Catalogue {
    Catalogue::of(ALL.iter().copied().filter(|module| {
        !module.switchable
            || state
                .modules
                .iter()
                .any(|served| served.name == module.name)
    }))
}

/// What the deployment's webhook endpoints may receive, as the OpenAPI document
/// describes it: the kinds of its [`events`], and the test message.
pub fn messages(state: &SharedState) -> Vec<&'static EventKind> {
    let mut kinds = events(state).kinds().to_vec();
    kinds.push(&webhooks::PING);
    kinds
}

/// The switchable modules `selection` names (all of them by default), or a message
/// naming the unknown one and the known ones.
pub fn served(selection: &ModuleSelection) -> Result<Vec<&'static ModuleInfo>, String> {
    let switchable = ALL.iter().copied().filter(|module| module.switchable);
    let ModuleSelection::Listed(names) = selection else {
        return Ok(switchable.collect());
    };
    let mut served: Vec<&'static ModuleInfo> = Vec::new();
    for wanted in names {
        let Some(module) = switchable.clone().find(|module| module.name == wanted) else {
            let known: Vec<&str> = switchable.map(|module| module.name).collect();
            return Err(format!(
                "unknown module {wanted:?}; known: {}, or none",
                known.join(", ")
            ));
        };
        if !served.iter().any(|m| m.name == module.name) {
            served.push(module);
        }
    }
    Ok(served)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::platform::db::Migrations;

    fn names(modules: &[&ModuleInfo]) -> Vec<&'static str> {
        modules.iter().map(|module| module.name).collect()
    }

    #[test]
    fn crm_modules_defaults_to_all_and_refuses_unknown_names() {
        let parse = |value| served(&ModuleSelection::parse(value));
        assert_eq!(
            names(&parse(None).expect("default")),
            ["real_estate", "clinic"]
        );
        assert_eq!(
            names(&parse(Some(" real_estate , real_estate")).expect("listed")),
            ["real_estate"]
        );
        assert!(parse(Some("none")).expect("none").is_empty());
        let err = parse(Some("real_estate,dental")).expect_err("unknown");
        assert!(
            err.contains("dental") && err.contains("real_estate") && err.contains("clinic"),
            "{err}"
        );
        let err = parse(Some("crm")).expect_err("not switchable");
        assert!(err.contains("\"crm\""), "{err}");
    }

    #[test]
    fn names_and_constraints_are_declared_once() {
        let mut seen = HashSet::new();
        assert!(ALL.iter().all(|module| seen.insert(module.name)));
        let mut constraints = HashSet::new();
        for module in ALL {
            for constraint in module.constraints {
                assert!(
                    constraints.insert(constraint.name),
                    "{} is declared twice",
                    constraint.name
                );
            }
        }
    }

    /// Every migration file in the tree is declared by exactly one module (or the
    /// foundation), so none is forgotten by the merged runner.
    #[test]
    fn every_migration_file_is_declared() {
        let migrations = Migrations::of(ALL).expect("versions are unique");
        let declared: HashSet<String> = migrations
            .all()
            .iter()
            .map(|m| format!("V{}__{}", m.version(), m.name()))
            .collect();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = HashSet::new();
        let mut pending = vec![root.join("migrations"), root.join("src")];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).expect("readable tree") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    pending.push(path);
                } else if path.extension().is_some_and(|ext| ext == "sql")
                    && path
                        .parent()
                        .and_then(|p| p.file_name())
                        .is_some_and(|name| name == "migrations")
                {
                    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
                    files.insert(stem.to_owned());
                }
            }
        }
        assert_eq!(files, declared);
    }
}
