//! Friendship in the relay, the protocol version 2 way: `add_friend`
//! sends a request (or accepts the other side's), `accept_friend`
//! answers one. No events are sent: the bench does not wait for any.

use super::super::json::user_obj;
use super::Req;
use super::{Failure, World, fail};

impl World {
    /// Version 2's `add_friend`: a request, or the acceptance of the
    /// other side's pending one.
    pub(super) fn add_friend(&self, me: u64, req: &Req<'_>) -> Result<Option<Vec<u8>>, Failure> {
        let them = req
            .user
            .ok_or_else(|| fail("bad_request", "`user` is required"))?;
        if them == me {
            return Err(fail("bad_request", "`user` is yourself"));
        }
        if !self.exists(them) {
            return Err(fail("no_such_user", format!("no user {them}")));
        }
        let asked_me = {
            let shard = self.shard(me);
            let acc = shard
                .get(&me)
                .ok_or_else(|| fail("internal", "no account"))?;
            if acc.friends.contains(&them) {
                return Err(fail("already_friends", format!("{them} is your friend")));
            }
            acc.requests_in.contains(&them)
        };
        if asked_me {
            let friend = self.befriend(me, them)?;
            let mut body = b"\"status\":\"friends\",\"friend\":".to_vec();
            body.extend_from_slice(&friend);
            return Ok(Some(body));
        }
        if let Some(acc) = self.shard(them).get_mut(&them)
            && !acc.requests_in.contains(&me)
        {
            acc.requests_in.push(me);
        }
        Ok(Some(b"\"status\":\"requested\"".to_vec()))
    }

    pub(super) fn accept_friend(&self, me: u64, req: &Req<'_>) -> Result<Option<Vec<u8>>, Failure> {
        let them = req
            .user
            .ok_or_else(|| fail("bad_request", "`user` is required"))?;
        let asked = self
            .shard(me)
            .get(&me)
            .is_some_and(|a| a.requests_in.contains(&them));
        if !asked {
            return Err(fail("no_such_request", format!("no request from {them}")));
        }
        let friend = self.befriend(me, them)?;
        let mut body = b"\"friend\":".to_vec();
        body.extend_from_slice(&friend);
        Ok(Some(body))
    }

    /// Makes `me` and `them` friends (dropping `them`'s request); returns
    /// `them` as a user object.
    fn befriend(&self, me: u64, them: u64) -> Result<Vec<u8>, Failure> {
        if let Some(acc) = self.shard(me).get_mut(&me) {
            acc.requests_in.retain(|&u| u != them);
            acc.friends.push(them);
        }
        let mut shard = self.shard(them);
        let acc = shard
            .get_mut(&them)
            .ok_or_else(|| fail("no_such_user", format!("no user {them}")))?;
        acc.requests_in.retain(|&u| u != me);
        acc.friends.push(me);
        let mut out = Vec::new();
        user_obj(&mut out, them, &acc.name, Some(!acc.sessions.is_empty()));
        Ok(out)
    }
}
