//! Timestamp column type shared by both backends.
//!
//! PostgreSQL stores `TIMESTAMPTZ`; SQLite stores INTEGER microseconds since the Unix epoch,
//! so comparisons in SQL (expiry, lease clocks) are numeric rather than text comparisons.
//! Values are truncated to microseconds on the way in so that a record read back equals the
//! record written, on either backend.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Postgres, Sqlite, Type};
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct DbTime(pub OffsetDateTime);

impl DbTime {
    pub fn now() -> Self {
        Self::from(OffsetDateTime::now_utc())
    }

    fn micros(&self) -> i64 {
        (self.0.unix_timestamp_nanos() / 1_000) as i64
    }

    fn from_micros(micros: i64) -> Result<Self, BoxDynError> {
        Ok(DbTime(OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(micros) * 1_000,
        )?))
    }
}

/// Truncates to whole microseconds in UTC (the precision both backends keep).
pub(crate) fn truncate(t: OffsetDateTime) -> OffsetDateTime {
    let nanos = t.unix_timestamp_nanos();
    let truncated = nanos - nanos.rem_euclid(1_000);
    OffsetDateTime::from_unix_timestamp_nanos(truncated).unwrap_or(t)
}

pub(crate) fn now() -> OffsetDateTime {
    truncate(OffsetDateTime::now_utc())
}

impl From<OffsetDateTime> for DbTime {
    fn from(t: OffsetDateTime) -> Self {
        DbTime(truncate(t))
    }
}

impl From<DbTime> for OffsetDateTime {
    fn from(t: DbTime) -> Self {
        t.0
    }
}

pub(crate) fn opt(t: Option<OffsetDateTime>) -> Option<DbTime> {
    t.map(DbTime::from)
}

pub(crate) fn unopt(t: Option<DbTime>) -> Option<OffsetDateTime> {
    t.map(|t| t.0)
}

impl Type<Sqlite> for DbTime {
    fn type_info() -> <Sqlite as Database>::TypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &<Sqlite as Database>::TypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for DbTime {
    fn encode_by_ref(
        &self,
        buf: &mut <Sqlite as Database>::ArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode(self.micros(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for DbTime {
    fn decode(value: <Sqlite as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        DbTime::from_micros(<i64 as Decode<Sqlite>>::decode(value)?)
    }
}

impl Type<Postgres> for DbTime {
    fn type_info() -> <Postgres as Database>::TypeInfo {
        <OffsetDateTime as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &<Postgres as Database>::TypeInfo) -> bool {
        <OffsetDateTime as Type<Postgres>>::compatible(ty)
    }
}

impl Encode<'_, Postgres> for DbTime {
    fn encode_by_ref(
        &self,
        buf: &mut <Postgres as Database>::ArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        Encode::<Postgres>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for DbTime {
    fn decode(value: <Postgres as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(DbTime(<OffsetDateTime as Decode<Postgres>>::decode(value)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_round_trip() {
        let t = DbTime::now();
        assert_eq!(DbTime::from_micros(t.micros()).unwrap(), t);
        let before_epoch =
            DbTime::from(OffsetDateTime::UNIX_EPOCH - time::Duration::nanoseconds(1500));
        assert_eq!(
            DbTime::from_micros(before_epoch.micros()).unwrap(),
            before_epoch
        );
    }
}
