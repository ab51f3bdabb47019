//! Bounds on the sign-ins waiting for (or running) a password check on this node: per account,
//! per client IP and in total. A sign-in beyond a bound is refused at once instead of queueing
//! behind argon2's semaphore (`passwords.max_concurrent_hashes`), so a flood neither piles up
//! memory and latency nor delays everyone else's sign-in by minutes. The counts live in small
//! maps that hold only the sign-ins in progress (at most `total` entries) and are released by
//! `Seat`'s `Drop`, whatever way the sign-in ends.

use crate::tenancy::OrgId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Which bound refused a sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// Too many sign-ins of this account at once (429).
    Account,
    /// Too many sign-ins from this client IP at once (429).
    Ip,
    /// Too many sign-ins on this node at once (503).
    Node,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    accounts: HashMap<String, usize>,
    ips: HashMap<String, usize>,
}

#[derive(Debug, Clone)]
pub struct WaitingRoom {
    counts: Arc<Mutex<Counts>>,
    per_account: usize,
    per_ip: usize,
    total: usize,
}

/// One sign-in's place in the waiting room, given up when dropped.
#[derive(Debug)]
pub struct Seat {
    counts: Arc<Mutex<Counts>>,
    account: String,
    ip: String,
}

fn lock(counts: &Mutex<Counts>) -> std::sync::MutexGuard<'_, Counts> {
    counts.lock().unwrap_or_else(|p| p.into_inner())
}

fn release(map: &mut HashMap<String, usize>, key: &str) {
    if let Some(n) = map.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(key);
        }
    }
}

impl WaitingRoom {
    /// Bounds of 0 are taken as 1 (a bound of nothing would refuse every sign-in).
    pub fn new(per_account: usize, per_ip: usize, total: usize) -> Self {
        Self {
            counts: Arc::new(Mutex::new(Counts::default())),
            per_account: per_account.max(1),
            per_ip: per_ip.max(1),
            total: total.max(1),
        }
    }

    /// A seat for a sign-in of `account` (the typed email) in `org` from `ip`, or the bound
    /// that is full. The account bound is checked first, then the IP's, then the node's.
    pub fn enter(&self, org: OrgId, account: &str, ip: &str) -> Result<Seat, Full> {
        let account = format!("{org}:{account}");
        let mut c = lock(&self.counts);
        if c.accounts.get(&account).copied().unwrap_or(0) >= self.per_account {
            return Err(Full::Account);
        }
        if c.ips.get(ip).copied().unwrap_or(0) >= self.per_ip {
            return Err(Full::Ip);
        }
        if c.total >= self.total {
            return Err(Full::Node);
        }
        c.total += 1;
        *c.accounts.entry(account.clone()).or_default() += 1;
        *c.ips.entry(ip.to_owned()).or_default() += 1;
        Ok(Seat {
            counts: self.counts.clone(),
            account,
            ip: ip.to_owned(),
        })
    }

    /// Sign-ins in progress on this node.
    pub fn occupied(&self) -> usize {
        lock(&self.counts).total
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut c = lock(&self.counts);
        c.total = c.total.saturating_sub(1);
        release(&mut c.accounts, &self.account);
        release(&mut c.ips, &self.ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_per_account_ip_and_node_and_seats_come_back() {
        let org = OrgId(uuid::Uuid::nil());
        let room = WaitingRoom::new(2, 3, 4);
        let a1 = room.enter(org, "a", "ip1").unwrap();
        let _a2 = room.enter(org, "a", "ip2").unwrap();
        assert_eq!(room.enter(org, "a", "ip3").unwrap_err(), Full::Account);
        let _b = room.enter(org, "b", "ip1").unwrap();
        let _c = room.enter(org, "c", "ip1").unwrap();
        assert_eq!(room.enter(org, "d", "ip1").unwrap_err(), Full::Ip);
        assert_eq!(room.enter(org, "d", "ip4").unwrap_err(), Full::Node);
        drop(a1);
        let _d = room.enter(org, "d", "ip4").unwrap();
        assert_eq!(room.occupied(), 4);
        // The same address in another org is another account.
        let other = OrgId(uuid::Uuid::max());
        drop(_d);
        let _e = room.enter(other, "a", "ip5").unwrap();
    }

    #[test]
    fn the_maps_hold_only_sign_ins_in_progress() {
        let org = OrgId(uuid::Uuid::nil());
        let room = WaitingRoom::new(2, 2, 100);
        for i in 0..1000 {
            let _seat = room
                .enter(org, &format!("user{i}"), &format!("ip{i}"))
                .unwrap();
        }
        let c = lock(&room.counts);
        assert_eq!((c.total, c.accounts.len(), c.ips.len()), (0, 0, 0));
    }
}
