//! [`Label`]: an API enum stored in a text column as its API label.

use std::{error::Error, fmt::Debug};

use bytes::BytesMut;
use poem_openapi::types::{ParseFromParameter, ToJSON};
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

/// An API enum in a text column, stored as its API label (each column has a CHECK
/// listing the labels).
#[derive(Debug, Clone, Copy)]
pub struct Label<T>(pub T);

impl<T: ToJSON + Debug> ToSql for Label<T> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self.0.to_json() {
            Some(serde_json::Value::String(label)) => label.to_sql(ty, out),
            other => Err(format!("{other:?} is not an enum label").into()),
        }
    }

    fn accepts(ty: &Type) -> bool {
        <String as ToSql>::accepts(ty)
    }

    to_sql_checked!();
}

impl<'a, T: ParseFromParameter> FromSql<'a> for Label<T> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        let label = <&str as FromSql>::from_sql(ty, raw)?;
        T::parse_from_parameter(label)
            .map(Label)
            .map_err(|err| err.into_message().into())
    }

    fn accepts(ty: &Type) -> bool {
        <&str as FromSql>::accepts(ty)
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::Enum;

    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
    #[oai(rename_all = "SCREAMING_SNAKE_CASE")]
    enum Outcome {
        Completed,
        NoShow,
    }

    #[test]
    fn labels_are_the_api_names() {
        let mut out = BytesMut::new();
        Label(Outcome::NoShow)
            .to_sql(&Type::TEXT, &mut out)
            .expect("encodes");
        assert_eq!(&out[..], b"NO_SHOW");
        let parsed =
            <Label<Outcome> as FromSql>::from_sql(&Type::TEXT, b"NO_SHOW").expect("decodes");
        assert_eq!(parsed.0, Outcome::NoShow);
        assert!(<Label<Outcome> as FromSql>::from_sql(&Type::TEXT, b"LEASE").is_err());
        assert_ne!(parsed.0, Outcome::Completed);
    }
}
