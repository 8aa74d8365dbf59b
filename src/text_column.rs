//! Enums stored by name in a `TEXT` column: encoded as their name, decoded through `FromStr`,
//! so an unknown stored name is a decode error naming the value, never a silent default.

/// Implements sqlx's `Type`, `Encode` and `Decode` for PostgreSQL on an enum with
/// `fn name(self) -> &'static str` and a `FromStr` whose error is an `std::error::Error`.
#[macro_export]
macro_rules! text_column {
    ($t:ty) => {
        impl sqlx::Type<sqlx::Postgres> for $t {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::Type<sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $t {
            fn decode(
                value: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let name = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
                Ok(name.parse::<$t>()?)
            }
        }

        impl sqlx::Encode<'_, sqlx::Postgres> for $t {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<sqlx::Postgres>>::encode_by_ref(&self.name(), buf)
            }
        }
    };
}

/// A stored or given name that is none of an enum's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a {what} (expected one of: {expected})")]
pub struct UnknownName {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl UnknownName {
    pub fn new(what: &'static str, value: &str, expected: &'static str) -> Self {
        UnknownName {
            what,
            value: value.chars().take(64).collect(),
            expected,
        }
    }
}
