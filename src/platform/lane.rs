//! [`Lane`]: the kind of record a request works on, the first segment of its API path
//! (`contacts`, `deals`, `properties`, …), so that the tenant door can keep requests on
//! one kind of record from holding every connection. A `LOCK TABLE contacts` (a
//! migration, a DBA) holds up every request on contacts; without lanes they take the
//! whole pool while they wait, and deals answer 503 for a table they never touch.
//!
//! The HTTP guard scopes each request in its lane ([`Lane::scope`]); the lanes are the
//! ones the OpenAPI document names ([`Lanes`]), so a path nobody routes makes none.

use std::{collections::HashSet, future::Future, sync::Arc};

tokio::task_local! {
    static CURRENT: Lane;
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Lane(Arc<str>);

impl Lane {
    /// The lane of the request this task serves, if it serves one (jobs do not).
    pub fn current() -> Option<Self> {
        CURRENT.try_with(Clone::clone).ok()
    }

    /// Runs `work` with this as [`Self::current`].
    pub fn scope<F: Future>(self, work: F) -> impl Future<Output = F::Output> {
        CURRENT.scope(self, work)
    }

    pub fn name(&self) -> &str {
        &self.0
    }
}

/// The lanes the API has: the first segments of the document's paths, served under
/// a prefix.
#[derive(Clone, Debug)]
pub struct Lanes {
    names: HashSet<Arc<str>>,
    prefix: &'static str,
}

impl Lanes {
    /// From the document's paths (`/contacts/{id}` → `contacts`), served under `prefix`.
    pub fn from_paths<'a>(paths: impl IntoIterator<Item = &'a str>, prefix: &'static str) -> Self {
        let names = paths
            .into_iter()
            .filter_map(first_segment)
            .map(Arc::from)
            .collect();
        Self { names, prefix }
    }

    /// The lane of a request path (`/api/v1/contacts/…` → `contacts`).
    pub fn of(&self, path: &str) -> Option<Lane> {
        let segment = first_segment(path.strip_prefix(self.prefix)?)?;
        self.names.get(segment).cloned().map(Lane)
    }
}

fn first_segment(path: &str) -> Option<&str> {
    path.trim_start_matches('/')
        .split('/')
        .next()
        .filter(|segment| !segment.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lane_is_a_first_segment_the_document_names() {
        let paths = ["/contacts", "/contacts/{id}", "/deals/{id}/stage"];
        let lanes = Lanes::from_paths(paths, "/api/v1");
        let lane = |path| lanes.of(path).map(|lane| lane.name().to_owned());
        assert_eq!(lane("/api/v1/contacts/0190").as_deref(), Some("contacts"));
        assert_eq!(lane("/api/v1/deals").as_deref(), Some("deals"));
        assert_eq!(
            lane("/api/v1/invented/1"),
            None,
            "no lane for unrouted paths"
        );
        assert_eq!(lane("/openapi.json"), None);
        assert_eq!(lane("/api/v1/"), None);
    }
}
