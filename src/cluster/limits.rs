//! Limits every node of a cluster enforces as one: a count per key and per minute in Redis
//! (`INCR` + `EXPIRE` on `kyc:rate:{key}:{minute}`, one round trip), so N nodes let through N
//! times nothing more. While Redis is away the caller falls back to its own in-process limiter.

use super::{Cluster, ClusterError};

/// One more event under `key`, allowed `per_minute` times in each clock minute: `Ok(None)`
/// when allowed, `Ok(Some(secs))` when over (try again in `secs`, the minute's rest).
pub async fn check(
    cluster: &Cluster,
    key: &str,
    per_minute: u32,
) -> Result<Option<u64>, ClusterError> {
    let now = super::wire::now_ms() / 1000;
    let minute = now / 60;
    let mut conn = cluster.conn().await?;
    let k = format!("kyc:rate:{key}:{minute}");
    let (count, _): (u64, bool) = redis::pipe()
        .cmd("INCR")
        .arg(&k)
        .cmd("EXPIRE")
        .arg(&k)
        .arg(120)
        .query_async(&mut conn)
        .await
        .map_err(|e| cluster.failed(e))?;
    cluster.answered();
    if count > u64::from(per_minute) {
        Ok(Some(60 - now % 60))
    } else {
        Ok(None)
    }
}
