//! Reading a service's settings from environment variables, with errors that name the variable.

/// `value` parsed, or `default` when the variable is unset.
pub fn parse_or<T: std::str::FromStr>(
    value: Option<String>,
    name: &str,
    default: T,
) -> Result<T, String> {
    value.map_or(Ok(default), |value| parse(&value, name))
}

/// `value` of variable `name` parsed, surrounding space ignored.
pub fn parse<T: std::str::FromStr>(value: &str, name: &str) -> Result<T, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("{name}={value:?} is not a valid value"))
}

/// `value` parsed when the variable is set.
pub fn parse_opt<T: std::str::FromStr>(
    value: Option<String>,
    name: &str,
) -> Result<Option<T>, String> {
    value.map(|value| parse(&value, name)).transpose()
}

/// A variable lookup over fixed pairs, so settings can be read in tests without touching the
/// process environment.
pub fn lookup_in<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        pairs
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_takes_the_default_and_bad_values_name_the_variable() {
        assert_eq!(parse_or::<u16>(None, "PORT", 9001), Ok(9001));
        assert_eq!(parse_or::<u16>(Some(" 80 ".into()), "PORT", 9001), Ok(80));
        assert_eq!(
            parse::<u16>("x", "PORT"),
            Err("PORT=\"x\" is not a valid value".to_string())
        );
    }
}
