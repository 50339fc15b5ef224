//! [`Budget`]: how many pooled connections one holder may have at once. The tenant
//! door keeps four: per tenant (a tenant running its heaviest legal requests in
//! parallel cannot take the pool from the others), per tenant for text searches, per
//! [`Lane`] and per tenant and lane (requests on one kind of record, stuck behind a
//! lock on its table, cannot take the connections the others need).
//!
//! Each holder with work in flight has a semaphore of `per_holder` permits; the tenant
//! door takes one before checking out a connection and its [`TenantTx`] keeps it
//! until dropped. A request over a budget waits at most `queue_wait`, then is refused
//! with the budget's error ([`DbError::TenantBusy`], answered 429, when the tenant is
//! over its own share; [`DbError::Busy`], 503, when every tenant's requests on a lane
//! are). A holder's entry is removed when its last permit is released and nobody
//! waits, so the map holds only holders with requests in flight.
//!
//! [`TenantTx`]: super::TenantTx

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use super::DbError;
use crate::platform::lane::Lane;

/// Who holds a budget's slots.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Holder {
    Tenant(Uuid),
    Lane(Lane),
    TenantLane(Uuid, Lane),
}

/// Per-holder concurrency limits, shared by every clone of the pool.
#[derive(Clone, Debug)]
pub struct Budget {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    per_holder: usize,
    queue_wait: Duration,
    /// The answer when no slot came free in time.
    refusal: fn() -> DbError,
    holders: Mutex<HashMap<Holder, Arc<Semaphore>>>,
}

/// One of a holder's connection slots; released (and the holder's entry cleaned up
/// when idle) on drop.
#[derive(Debug)]
pub struct Slot {
    permit: Option<OwnedSemaphorePermit>,
    holder: Option<Holder>,
    budget: Arc<Inner>,
}

impl Budget {
    pub fn new(per_holder: usize, queue_wait: Duration, refusal: fn() -> DbError) -> Self {
        Self {
            inner: Arc::new(Inner {
                per_holder,
                queue_wait,
                refusal,
                holders: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// A slot for `holder`: at once when one is free, else after a wait of at most
    /// the queue time; the budget's refusal when none came free.
    pub async fn acquire(&self, holder: Holder) -> Result<Slot, DbError> {
        let semaphore = self.inner.semaphore(&holder);
        let waited = tokio::time::timeout(self.inner.queue_wait, semaphore.acquire_owned()).await;
        // Built before the result is read, so a refused caller also cleans up its entry.
        let mut slot = Slot {
            permit: None,
            holder: Some(holder),
            budget: Arc::clone(&self.inner),
        };
        match waited {
            Ok(Ok(acquired)) => {
                slot.permit = Some(acquired);
                Ok(slot)
            }
            Ok(Err(_closed)) => Err(DbError::internal("the budget was closed")),
            Err(_elapsed) => Err((self.inner.refusal)()),
        }
    }

    /// Holders with an entry (in flight or waiting).
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.inner.lock().len()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, HashMap<Holder, Arc<Semaphore>>> {
        // A panic while holding the lock leaves the map consistent (plain inserts
        // and removes), so a poisoned lock is still usable.
        self.holders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The holder's semaphore, created on first use. Cloned under the lock, so the
    /// clean-up (also under the lock) never removes an entry someone is about to use.
    fn semaphore(&self, holder: &Holder) -> Arc<Semaphore> {
        let mut holders = self.lock();
        if let Some(semaphore) = holders.get(holder) {
            return Arc::clone(semaphore);
        }
        let semaphore = Arc::new(Semaphore::new(self.per_holder));
        holders.insert(holder.clone(), Arc::clone(&semaphore));
        semaphore
    }

    /// Forgets the holder when nobody but the map holds its semaphore: no permit out,
    /// no caller waiting.
    fn release(&self, holder: &Holder) {
        let mut holders = self.lock();
        if holders
            .get(holder)
            .is_some_and(|semaphore| Arc::strong_count(semaphore) == 1)
        {
            holders.remove(holder);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        drop(self.permit.take());
        if let Some(holder) = self.holder.take() {
            self.budget.release(&holder);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_millis(20);

    fn tenant_budget(per_tenant: usize) -> Budget {
        Budget::new(per_tenant, WAIT, || DbError::TenantBusy)
    }

    #[tokio::test]
    async fn a_tenant_gets_at_most_its_share_and_others_are_unaffected() {
        let budget = tenant_budget(2);
        let (noisy, quiet) = (
            Holder::Tenant(Uuid::now_v7()),
            Holder::Tenant(Uuid::now_v7()),
        );
        let first = budget.acquire(noisy.clone()).await.expect("first slot");
        let second = budget.acquire(noisy.clone()).await.expect("second slot");
        assert!(matches!(
            budget.acquire(noisy.clone()).await,
            Err(DbError::TenantBusy)
        ));
        let other = budget
            .acquire(quiet.clone())
            .await
            .expect("another tenant's slot");
        drop(first);
        let third = budget
            .acquire(noisy.clone())
            .await
            .expect("a slot came free");
        drop((second, third, other));
    }

    #[tokio::test]
    async fn idle_tenants_are_forgotten() {
        let budget = tenant_budget(1);
        let tenant = Holder::Tenant(Uuid::now_v7());
        let held = budget.acquire(tenant.clone()).await.expect("a slot");
        assert!(budget.acquire(tenant).await.is_err());
        assert_eq!(budget.tracked(), 1);
        drop(held);
        assert_eq!(budget.tracked(), 0);
        for _ in 0..100 {
            let tenant = Holder::Tenant(Uuid::now_v7());
            drop(budget.acquire(tenant).await.expect("a slot"));
        }
        assert_eq!(budget.tracked(), 0);
    }
}
