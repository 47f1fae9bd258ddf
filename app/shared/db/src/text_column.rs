//! Enums stored as `TEXT` columns.

/// Maps an enum to a PostgreSQL `TEXT` column through its `as_str()` and
/// `FromStr`: the state words stay readable in the table (and in the
/// table's `CHECK` constraint), and a word the enum does not know is a
/// decode error, never a silently wrong state.
///
/// The type needs `fn as_str(self) -> &'static str` and a `FromStr` whose
/// error is a `std::error::Error + Send + Sync + 'static`.
#[macro_export]
macro_rules! text_column {
    ($ty:ty) => {
        impl $crate::sqlx::Type<$crate::sqlx::Postgres> for $ty {
            fn type_info() -> $crate::sqlx::postgres::PgTypeInfo {
                <&str as $crate::sqlx::Type<$crate::sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &$crate::sqlx::postgres::PgTypeInfo) -> bool {
                <&str as $crate::sqlx::Type<$crate::sqlx::Postgres>>::compatible(ty)
            }
        }

        impl<'r> $crate::sqlx::Decode<'r, $crate::sqlx::Postgres> for $ty {
            fn decode(
                value: $crate::sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, $crate::sqlx::error::BoxDynError> {
                let word = <&str as $crate::sqlx::Decode<$crate::sqlx::Postgres>>::decode(value)?;
                Ok(word.parse::<$ty>()?)
            }
        }

        impl $crate::sqlx::Encode<'_, $crate::sqlx::Postgres> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut $crate::sqlx::postgres::PgArgumentBuffer,
            ) -> Result<$crate::sqlx::encode::IsNull, $crate::sqlx::error::BoxDynError> {
                <&str as $crate::sqlx::Encode<$crate::sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }
    };
}
