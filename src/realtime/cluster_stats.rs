//! The live figures of the whole deployment for the admin panel (`GET /admin/stats`): open
//! WebSocket connections and users online, summed over every live instance rather than the one
//! that answered (behind a balancer, successive polls reach different instances).
//!
//! Each instance writes its connection count under `{keys}:stats:{instance}` with the instance
//! liveness TTL (`redis.instance_ttl_ms`), every `redis.heartbeat_interval_ms`. A script adds up
//! the counts of the instances listed in `{keys}:instances` whose key is still there, and counts
//! the users online as the union of those instances' presence reports
//! (`{keys}:instance_users:{instance}`, kept by the presence script), so a user connected to two
//! instances counts once. All these keys share the deployment's hash tag on a Redis Cluster, so
//! the script touches one slot. A dead instance's key expires: its figures leave the sum within
//! the TTL.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::realtime::broker::redis::RedisBroker;

/// KEYS: the instance list. ARGV: the key prefix. Returns {connections, users online}.
const FIGURES_SCRIPT: &str = r"
local conns, live = 0, {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local c = redis.call('GET', ARGV[1] .. ':stats:' .. id)
  if c then
    conns = conns + tonumber(c)
    table.insert(live, ARGV[1] .. ':instance_users:' .. id)
  end
end
local users = 0
if #live > 0 then users = redis.call('SCARD', live[1]) end
if #live > 1 then users = #redis.call('SUNION', unpack(live)) end
return {conns, users}
";

pub struct ClusterStats {
    broker: RedisBroker,
}

impl ClusterStats {
    /// Starts writing this instance's `connections` count every `interval`, kept for `ttl`.
    pub fn start(broker: RedisBroker, connections: Arc<AtomicUsize>, interval: Duration, ttl: Duration) -> Arc<Self> {
        let writer = broker.clone();
        tokio::spawn(async move {
            let key = format!("{}:stats:{}", writer.key_prefix(), writer.instance_id());
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let mut conn = writer.connection();
                let count = connections.load(Ordering::Relaxed);
                let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
                let set = redis::cmd("SET").arg(&key).arg(count).arg("PX").arg(ttl_ms).clone();
                if let Err(e) = set.query_async::<()>(&mut conn).await {
                    tracing::debug!("this instance's figures not written to Redis: {e}");
                }
            }
        });
        Arc::new(Self { broker })
    }

    /// (connections, users online) over every live instance.
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn figures(&self) -> redis::RedisResult<(usize, usize)> {
        if !self.broker.connected() {
            return Err((redis::ErrorKind::Io, "Redis is unreachable").into());
        }
        let keys = self.broker.key_prefix();
        let mut conn = self.broker.connection();
        let (connections, users): (usize, usize) = redis::cmd("EVAL")
            .arg(FIGURES_SCRIPT)
            .arg(1)
            .arg(format!("{keys}:instances"))
            .arg(keys)
            .query_async(&mut conn)
            .await?;
        Ok((connections, users))
    }
}
