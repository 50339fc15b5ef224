//! The seeded data set. Ids are deterministic (a kind's hex digit and a row number in
//! decimal, 32 digits read as hex), so the load driver and pgbench pick rows with
//! random numbers alone: no id table to load, and the same rows for both.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Result;

/// What an id names; its digit leads the id.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Contact,
    Deal,
    Company,
    StageChange,
    User,
    Tenant,
    /// A seeded owner's session (refresh-token family), named by its tokens' `sid`.
    Session,
    /// Tenant `t`'s one property, which the `book` scenario books viewings of.
    Property,
    /// Rule `3t + k` of tenant `t`: its confirmation, 24 h and 2 h reminders.
    Rule,
    /// Practitioner `p` of the clinic tenant: a user, its membership and its
    /// practitioner row share this id.
    Practitioner,
    /// Patient `r` of the clinic tenant, the patient of its contact `r`.
    Patient,
    /// Seeded appointment `n` of the clinic tenant.
    Appointment,
    /// The clinic tenant's one location (row 0).
    Location,
    /// The clinic tenant's one appointment type (row 0).
    AppointmentType,
    /// Tenant `t`'s tag "VIP", on every tenth of its contacts (those whose row number
    /// ends in 0).
    Tag,
}

impl Kind {
    fn digit(self) -> char {
        match self {
            Self::Contact => '1',
            Self::Deal => '2',
            Self::Company => '3',
            Self::StageChange => '4',
            Self::User => '8',
            Self::Session => '7',
            Self::Property => '5',
            Self::Rule => '6',
            Self::Tenant => '9',
            Self::Practitioner => 'a',
            Self::Patient => 'b',
            Self::Appointment => 'c',
            Self::Location => 'd',
            Self::AppointmentType => 'e',
            Self::Tag => 'f',
        }
    }

    /// The id of row `n` as a hyphenated UUID string.
    pub fn id(self, n: u64) -> String {
        let hex = format!("{}{n:031}", self.digit());
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }

    /// The same id computed in SQL from an integer expression (for pgbench).
    pub fn sql(self, n: &str) -> String {
        format!("('{}' || lpad(({n})::text, 31, '0'))::uuid", self.digit())
    }
}

/// First names of seeded contacts.
pub const FIRST_NAMES: &[&str] = &[
    "Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "John", "Margaret", "Ken",
    "Radia", "Dennis", "Sophie", "Tim", "Hedy", "Linus", "Annie", "Niklaus", "Karen", "Bjarne",
    "Shafi", "Guido", "Joan", "James", "Jean", "Leslie", "Mary", "Robin", "Lynn", "Tony", "Adele",
    "Edgar",
];

/// Last names of seeded contacts; their lower-case forms are the search terms.
pub const LAST_NAMES: &[&str] = &[
    "Lovelace",
    "Turing",
    "Hopper",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Backus",
    "Hamilton",
    "Thompson",
    "Perlman",
    "Ritchie",
    "Wilson",
    "Berners",
    "Lamarr",
    "Torvalds",
    "Easley",
    "Wirth",
    "Jones",
    "Stroustrup",
    "Goldwasser",
    "Rossum",
    "Clarke",
    "Gosling",
    "Sammet",
    "Lamport",
    "Kenneth",
    "Milner",
    "Conway",
    "Hoare",
    "Goldberg",
    "Codd",
];

/// The lower-case search terms the list-with-search scenario picks from.
pub fn search_terms() -> Vec<String> {
    LAST_NAMES.iter().map(|name| name.to_lowercase()).collect()
}

/// Sizes and credentials of a seeded data set (`dataset.json`, the "ids file").
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Dataset {
    pub name: String,
    pub tenants: u64,
    pub contacts_per_tenant: u64,
    /// Deal `r` of a tenant is with its contact `r`.
    pub deals_per_tenant: u64,
    pub companies_per_tenant: u64,
    /// Every seeded owner's password (`owner<t>@bench.test`).
    pub password: String,
    /// Tenant 0's clinic, when one was seeded.
    #[serde(default)]
    pub clinic: Option<Clinic>,
    /// One owner access token per tenant, in tenant order (also in `tokens.txt`).
    #[serde(skip)]
    pub tokens: Vec<String>,
}

/// The clinic of tenant 0 (the `availability` and `clinic_book` scenarios): one
/// location, `practitioners` who work there every day from 07:00 to 21:00
/// (Europe/Zurich), one appointment type of 30 minutes and 10 minutes' buffer after,
/// one patient per contact of the tenant, and the seeded appointments.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Clinic {
    pub practitioners: u64,
    pub patients: u64,
    pub appointments: u64,
    /// The UTC day the seed ran (`YYYY-MM-DD`): day 0 of [`Self::booked_days_ahead`].
    pub seeded_on: String,
    /// Every practitioner has seeded appointments on every day up to this many days
    /// after `seeded_on` (the densely booked future).
    pub booked_days_ahead: u64,
}

impl Dataset {
    pub fn owner_email(tenant: u64) -> String {
        format!("owner{tenant}@bench.test")
    }

    pub fn contacts(&self) -> u64 {
        self.tenants * self.contacts_per_tenant
    }

    pub fn deals(&self) -> u64 {
        self.tenants * self.deals_per_tenant
    }

    /// Writes `dataset.json` and `tokens.txt` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("dataset.json"), serde_json::to_vec_pretty(self)?)?;
        std::fs::write(dir.join("tokens.txt"), self.tokens.join("\n") + "\n")?;
        Ok(())
    }

    pub fn load(dir: &Path) -> Result<Self> {
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|err| {
                format!(
                    "{}: {err} (run `crm-bench seed` first)",
                    dir.join(name).display()
                )
            })
        };
        let mut dataset: Self = serde_json::from_slice(&read("dataset.json")?)?;
        dataset.tokens = String::from_utf8(read("tokens.txt")?)?
            .lines()
            .map(str::to_owned)
            .collect();
        if dataset.tokens.len() as u64 != dataset.tenants {
            return Err("tokens.txt does not hold one token per tenant".into());
        }
        Ok(dataset)
    }
}

/// splitmix64: a small, fast, seedable generator (benchmark choices, not secrets).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuids_and_distinct_per_kind() {
        let contact = Kind::Contact.id(42);
        assert_eq!(contact, "10000000-0000-0000-0000-000000000042");
        assert!(uuid::Uuid::parse_str(&contact).is_ok());
        assert_ne!(Kind::Deal.id(42), contact);
        assert!(uuid::Uuid::parse_str(&Kind::Tenant.id(999_999)).is_ok());
    }
}
