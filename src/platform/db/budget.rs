//! [`TenantBudget`]: how many pooled connections one tenant may hold at once, so a
//! tenant running its heaviest legal requests in parallel cannot take the pool from
//! the others.
//!
//! Each tenant with work in flight has a semaphore of `per_tenant` permits; the tenant
//! door takes one before checking out a connection and its [`TenantTx`] keeps it
//! until dropped. A request over the budget waits at most `queue_wait`, then is
//! refused ([`DbError::TenantBusy`], answered 429 with `Retry-After`). A tenant's
//! entry is removed when its last permit is released and nobody waits, so the map
//! holds only tenants with requests in flight.
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

/// Per-tenant concurrency limits, shared by every clone of the pool.
#[derive(Clone, Debug)]
pub struct TenantBudget {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    per_tenant: usize,
    queue_wait: Duration,
    tenants: Mutex<HashMap<Uuid, Arc<Semaphore>>>,
}

/// One of a tenant's connection slots; released (and the tenant's entry cleaned up
/// when idle) on drop.
#[derive(Debug)]
pub struct TenantPermit {
    permit: Option<OwnedSemaphorePermit>,
    tenant: Uuid,
    budget: Arc<Inner>,
}

impl TenantBudget {
    pub fn new(per_tenant: usize, queue_wait: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                per_tenant,
                queue_wait,
                tenants: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// A slot for `tenant`: at once when one is free, else after a wait of at most
    /// the queue time; [`DbError::TenantBusy`] when none came free.
    pub async fn acquire(&self, tenant: Uuid) -> Result<TenantPermit, DbError> {
        let semaphore = self.inner.semaphore(tenant);
        let waited = tokio::time::timeout(self.inner.queue_wait, semaphore.acquire_owned()).await;
        // Built before the result is read, so a refused caller also cleans up its entry.
        let mut permit = TenantPermit {
            permit: None,
            tenant,
            budget: Arc::clone(&self.inner),
        };
        match waited {
            Ok(Ok(acquired)) => {
                permit.permit = Some(acquired);
                Ok(permit)
            }
            Ok(Err(_closed)) => Err(DbError::internal("the tenant budget was closed")),
            Err(_elapsed) => Err(DbError::TenantBusy),
        }
    }

    /// Tenants with an entry (in flight or waiting).
    #[cfg(test)]
    fn tracked_tenants(&self) -> usize {
        self.inner.lock().len()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, Arc<Semaphore>>> {
        // A panic while holding the lock leaves the map consistent (plain inserts
        // and removes), so a poisoned lock is still usable.
        self.tenants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The tenant's semaphore, created on first use. Cloned under the lock, so the
    /// clean-up (also under the lock) never removes an entry someone is about to use.
    fn semaphore(&self, tenant: Uuid) -> Arc<Semaphore> {
        Arc::clone(
            self.lock()
                .entry(tenant)
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_tenant))),
        )
    }

    /// Forgets the tenant when nobody but the map holds its semaphore: no permit out,
    /// no caller waiting.
    fn release(&self, tenant: Uuid) {
        let mut tenants = self.lock();
        if tenants
            .get(&tenant)
            .is_some_and(|semaphore| Arc::strong_count(semaphore) == 1)
        {
            tenants.remove(&tenant);
        }
    }
}

impl Drop for TenantPermit {
    fn drop(&mut self) {
        drop(self.permit.take());
        self.budget.release(self.tenant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_millis(20);

    #[tokio::test]
    async fn a_tenant_gets_at_most_its_share_and_others_are_unaffected() {
        let budget = TenantBudget::new(2, WAIT);
        let (noisy, quiet) = (Uuid::now_v7(), Uuid::now_v7());
        let first = budget.acquire(noisy).await.expect("first slot");
        let second = budget.acquire(noisy).await.expect("second slot");
        assert!(matches!(
            budget.acquire(noisy).await,
            Err(DbError::TenantBusy)
        ));
        let other = budget.acquire(quiet).await.expect("another tenant's slot");
        drop(first);
        let third = budget.acquire(noisy).await.expect("a slot came free");
        drop((second, third, other));
    }

    #[tokio::test]
    async fn idle_tenants_are_forgotten() {
        let budget = TenantBudget::new(1, WAIT);
        let tenant = Uuid::now_v7();
        let held = budget.acquire(tenant).await.expect("a slot");
        assert!(budget.acquire(tenant).await.is_err());
        assert_eq!(budget.tracked_tenants(), 1);
        drop(held);
        assert_eq!(budget.tracked_tenants(), 0);
        for _ in 0..100 {
            drop(budget.acquire(Uuid::now_v7()).await.expect("a slot"));
        }
        assert_eq!(budget.tracked_tenants(), 0);
    }
}
