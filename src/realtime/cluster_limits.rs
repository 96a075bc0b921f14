//! Rate-limit buckets shared by every instance, in Redis: GCRA (the generic cell rate
//! algorithm, as governor runs it in each process) in one script per request, so that taking
//! from a bucket is one atomic step whichever instance asks. A bucket is one key holding its
//! theoretical arrival time, expiring once the bucket is full again; the key's hash tag is the
//! limited user or address, so on a Redis Cluster the buckets spread over the shards and each
//! script touches one slot. The time is Redis's own (`TIME`), one clock for every instance.
//!
//! Beside the buckets, running totals of the last hour (the assistant's token budget): a hash of
//! per-minute sums per total, added to and summed in one script.
//!
//! Hand-written rather than a crate: the Redis rate-limit crates either need the redis-cell
//! module or count fixed windows (which let twice the burst through at a window's edge).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::auth::ratelimit::SharedBuckets;
use crate::realtime::broker::redis::RedisBroker;

/// How long a request waits for the shared bucket before relying on the local limiter alone.
const TAKE_TIMEOUT: Duration = Duration::from_millis(250);

/// KEYS: the bucket. ARGV: the interval between requests (ms), the burst.
/// Returns 0 when taken, else the wait in ms until a request would be.
const GCRA_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = interval * (tonumber(ARGV[2]) - 1)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if now < tat - tolerance then return tat - tolerance - now end
local next_tat = tat + interval
redis.call('SET', KEYS[1], next_tat, 'PX', next_tat - now)
return 0
";

/// KEYS: a hash of per-minute totals (field: minutes since the epoch). ARGV: the amount to add.
/// Drops the minutes older than an hour and returns the sum of the others.
const HOUR_SCRIPT: &str = r"
local minute = math.floor(tonumber(redis.call('TIME')[1]) / 60)
local amount = tonumber(ARGV[1])
if amount > 0 then redis.call('HINCRBY', KEYS[1], minute, amount) end
local all = redis.call('HGETALL', KEYS[1])
local sum = 0
for i = 1, #all, 2 do
  if tonumber(all[i]) <= minute - 60 then redis.call('HDEL', KEYS[1], all[i]) else sum = sum + tonumber(all[i + 1]) end
end
redis.call('EXPIRE', KEYS[1], 3720)
return sum
";

pub struct RedisBuckets {
    broker: RedisBroker,
}

impl RedisBuckets {
    pub fn new(broker: RedisBroker) -> Arc<Self> {
        metrics::describe_counter!(
            "plauder_ratelimit_shared_unavailable_total",
            "Rate-limit checks that found the shared (Redis) bucket unavailable and used this instance's limiter alone"
        );
        Arc::new(Self { broker })
    }
}

impl SharedBuckets for RedisBuckets {
    fn take(
        &self,
        name: &'static str,
        key: String,
        burst: u32,
        interval: Duration,
    ) -> BoxFuture<'static, Option<Result<(), u64>>> {
        let unavailable = || {
            metrics::counter!("plauder_ratelimit_shared_unavailable_total").increment(1);
            None
        };
        if !self.broker.connected() {
            return Box::pin(std::future::ready(unavailable()));
        }
        let bucket = format!("{}:rl:{name}:{{{key}}}", self.broker.prefix());
        let interval_ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut conn = self.broker.connection();
        // EVAL with the script's text, as the presence script is run: no script cache to miss
        // after a Redis restart, for a few hundred bytes per request.
        let take = redis::cmd("EVAL").arg(GCRA_SCRIPT).arg(1).arg(bucket).arg(interval_ms).arg(burst).clone();
        Box::pin(async move {
            match tokio::time::timeout(TAKE_TIMEOUT, take.query_async::<u64>(&mut conn)).await {
                Ok(Ok(0)) => Some(Ok(())),
                Ok(Ok(wait_ms)) => Some(Err(wait_ms)),
                Ok(Err(e)) => {
                    tracing::debug!("shared rate-limit bucket unavailable: {e}");
                    unavailable()
                }
                Err(_) => unavailable(),
            }
        })
    }

    fn add_to_hour(&self, name: &'static str, amount: u64) -> BoxFuture<'static, Option<u64>> {
        let unavailable = || {
            metrics::counter!("plauder_ratelimit_shared_unavailable_total").increment(1);
            None
        };
        if !self.broker.connected() {
            return Box::pin(std::future::ready(unavailable()));
        }
        let key = format!("{}:hour:{{{name}}}", self.broker.prefix());
        let mut conn = self.broker.connection();
        let add = redis::cmd("EVAL").arg(HOUR_SCRIPT).arg(1).arg(key).arg(amount).clone();
        Box::pin(async move {
            match tokio::time::timeout(TAKE_TIMEOUT, add.query_async::<u64>(&mut conn)).await {
                Ok(Ok(total)) => Some(total),
                Ok(Err(e)) => {
                    tracing::debug!("shared hourly total unavailable: {e}");
                    unavailable()
                }
                Err(_) => unavailable(),
            }
        })
    }
}
