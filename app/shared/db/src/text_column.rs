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

/// Declares an enum whose states are words in a `TEXT` column: the enum,
/// `ALL` (in declaration order), `as_str()`, `Display`, a `FromStr` whose
/// error type (declared here too) names the words it accepts, and the
/// column mapping ([`text_column!`]). Extra attributes (derives, serde
/// renames) go on the enum as usual.
///
/// ```ignore
/// ticketing_db::text_enum! {
///     /// Where a seat is.
///     #[derive(serde::Serialize)]
///     pub enum SeatStatus / UnknownSeatStatus ("seat status") {
///         Available = "AVAILABLE",
///         Sold = "SOLD",
///     }
/// }
/// ```
#[macro_export]
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident / $error:ident ($what:literal) {
            $($(#[$vmeta:meta])* $variant:ident = $word:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every state, in declaration order.
            pub const ALL: [$name; [$($word),+].len()] = [$($name::$variant),+];

            /// The word stored in the column.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        #[doc = concat!("A word that is not a ", $what, ".")]
        #[derive(Debug, Clone, PartialEq, Eq)]
        $vis struct $error(pub String);

        impl ::std::fmt::Display for $error {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                let words: Vec<&str> = $name::ALL.iter().map(|s| s.as_str()).collect();
                write!(f, "`{}` is not a {}; use one of {}", self.0, $what, words.join(", "))
            }
        }

        impl ::std::error::Error for $error {}

        impl ::std::str::FromStr for $name {
            type Err = $error;

            fn from_str(word: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .into_iter()
                    .find(|state| state.as_str() == word)
                    .ok_or_else(|| $error(word.to_owned()))
            }
        }

        $crate::text_column!($name);
    };
}
