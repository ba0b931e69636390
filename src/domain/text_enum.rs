//! The one mechanism that maps a closed set of business words (statuses, roles, kinds) to the
//! text stored in both databases and sent over HTTP. A row holding an unknown word fails to
//! load (`TryFrom<String>`): a corrupt value is an error, never a default.

/// A stored word that no variant spells.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} value {value:?}")]
pub struct UnknownValue {
    pub kind: &'static str,
    pub value: String,
}

/// Declares an enum whose variants are written as the given words: `as_str`/`parse`,
/// `Display`, serde and OpenAPI under the same words, and the text conversions `db/` uses
/// (`#[diesel(deserialize_as = String, serialize_as = String)]`).
///
/// The word of a variant must be its name in snake_case (`RefundDue = "refund_due"`): serde
/// and utoipa spell variants through `rename_all` (utoipa does not read a per-variant rename
/// produced by a macro), and the tests below check that every enum's words agree.
#[macro_export]
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash,
            serde::Serialize, serde::Deserialize, utoipa::ToSchema,
        )]
        #[serde(rename_all = "snake_case")]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant ),+ ];

            /// The stored and transmitted word.
            pub const fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $text ),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $( $text => Some($name::$variant), )+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::domain::text_enum::UnknownValue;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s).ok_or($crate::domain::text_enum::UnknownValue {
                    kind: stringify!($name),
                    value: s,
                })
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_string()
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::text_enum! {
        enum Colour { Red = "red", DarkBlue = "dark_blue" }
    }

    /// serde, the OpenAPI schema and the stored word agree for every value.
    fn words_agree<T>()
    where
        T: Copy + serde::Serialize + utoipa::PartialSchema + 'static,
        T: WordEnum,
    {
        let schema = serde_json::to_value(T::schema()).unwrap();
        let listed: Vec<String> = schema["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{schema}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        let words: Vec<String> = T::all().iter().map(|v| v.word().to_string()).collect();
        assert_eq!(
            listed,
            words,
            "OpenAPI enum of {}",
            std::any::type_name::<T>()
        );
        for v in T::all() {
            assert_eq!(serde_json::to_value(v).unwrap(), v.word());
        }
    }

    trait WordEnum: Sized + 'static {
        fn all() -> &'static [Self];
        fn word(&self) -> &'static str;
    }

    macro_rules! word_enums {
        ($($t:ty),+) => {
            $(impl WordEnum for $t {
                fn all() -> &'static [Self] { <$t>::ALL }
                fn word(&self) -> &'static str { self.as_str() }
            })+
            #[test]
            fn every_enum_spells_its_words_alike_in_serde_openapi_and_storage() {
                $(words_agree::<$t>();)+
            }
        };
    }

    word_enums!(
        Colour,
        crate::domain::listing::ListingStatus,
        crate::domain::listing::IntendedUse,
        crate::domain::parcel::LandType,
        crate::domain::registration::IdType,
        crate::domain::registration::RegistrationStatus,
        crate::domain::registration::DepositStatus,
        crate::domain::roles::Role,
        crate::domain::deal::DealStatus
    );

    #[test]
    fn words_round_trip_and_unknown_words_fail() {
        for c in Colour::ALL {
            assert_eq!(Colour::try_from(String::from(*c)), Ok(*c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        assert_eq!(Colour::DarkBlue.as_str(), "dark_blue");
        let err = Colour::try_from("Red".to_string()).unwrap_err();
        assert_eq!(err.kind, "Colour");
        assert_eq!(err.value, "Red");
    }
}
