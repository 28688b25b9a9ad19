//! EC2 Query protocol parameters (pure): the URL query and, for
//! `application/x-www-form-urlencoded` bodies, the form, decoded into one list, plus the
//! EC2 conventions on top: lists as `Name.N`, filters as `Filter.N.Name` /
//! `Filter.N.Value.M`, booleans as `true`/`false`.
//!
//! Flow: [`Params::from_parts`] decodes; the server reads `Action`, `Version`, `DryRun`;
//! each action reads its own parameters with [`Params::list`], [`Params::filters`],
//! [`Params::bool`] and [`Params::int`], which answer EC2's errors for bad values.

use std::collections::BTreeMap;

use super::error::Ec2Error;

/// Decoded request parameters, in arrival order (query first, then body).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

/// One `Filter.N`: a name and its values (OR'ed; filters are AND'ed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// `Filter.N.Name`.
    pub name: String,
    /// `Filter.N.Value.M`, in M order.
    pub values: Vec<String>,
}

impl Params {
    /// Parameters from already decoded pairs.
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Params { pairs }
    }

    /// The URL query's pairs followed by the body's when it is a form (or when no content
    /// type is given and the body is not empty: GUESS, AWS SDKs always send the type).
    pub fn from_parts(query: &[(String, String)], body: &[u8], content_type: Option<&str>) -> Self {
        let mut pairs = query.to_vec();
        let is_form = content_type.map_or(!body.is_empty(), |c| {
            c.trim()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
        if is_form {
            pairs.extend(url::form_urlencoded::parse(body).into_owned());
        }
        Params { pairs }
    }

    /// Every pair.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, or MissingParameter.
    pub fn require(&self, name: &str) -> Result<&str, Ec2Error> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Ec2Error::missing(name))
    }

    /// `prefix.1`, `prefix.2`, … in index order (gaps allowed, as the SDKs never leave any).
    /// GUESS: a non-numeric or zero index is InvalidParameterValue.
    pub fn list(&self, prefix: &str) -> Result<Vec<String>, Ec2Error> {
        let mut items = BTreeMap::new();
        for (k, v) in &self.pairs {
            let Some(idx) = k.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else {
                continue;
            };
            let n = idx
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| Ec2Error::invalid_value(format!("Invalid parameter {k}")))?;
            items.entry(n).or_insert_with(|| v.clone());
        }
        Ok(items.into_values().collect())
    }

    /// The `Filter.N.Name` / `Filter.N.Value.M` filters in N order.
    /// GUESS: values without a name, or a name without values, are InvalidParameterValue.
    pub fn filters(&self) -> Result<Vec<Filter>, Ec2Error> {
        let mut names: BTreeMap<u32, String> = BTreeMap::new();
        let mut values: BTreeMap<u32, BTreeMap<u32, String>> = BTreeMap::new();
        let bad = |k: &str| Ec2Error::invalid_value(format!("Invalid parameter {k}"));
        for (k, v) in &self.pairs {
            let Some(rest) = k.strip_prefix("Filter.") else {
                continue;
            };
            let (n, field) = rest.split_once('.').ok_or_else(|| bad(k))?;
            let n = n
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad(k))?;
            match field.split_once('.') {
                None if field == "Name" => {
                    names.insert(n, v.clone());
                }
                Some(("Value", m)) => {
                    let m = m
                        .parse::<u32>()
                        .ok()
                        .filter(|m| *m > 0)
                        .ok_or_else(|| bad(k))?;
                    values.entry(n).or_default().insert(m, v.clone());
                }
                _ => return Err(bad(k)),
            }
        }
        if let Some(n) = values.keys().find(|n| !names.contains_key(n)) {
            return Err(Ec2Error::invalid_value(format!(
                "The filter 'null' is invalid (Filter.{n} has values but no name)"
            )));
        }
        names
            .into_iter()
            .map(|(n, name)| {
                let vals: Vec<String> = values
                    .remove(&n)
                    .unwrap_or_default()
                    .into_values()
                    .collect();
                if vals.is_empty() {
                    return Err(Ec2Error::invalid_value(format!(
                        "The filter '{name}' has no values"
                    )));
                }
                Ok(Filter { name, values: vals })
            })
            .collect()
    }

    /// A boolean parameter (`true`/`false`, any case); absent = `None`.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, Ec2Error> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            // GUESS: wording.
            Some(v) => Err(Ec2Error::invalid_value(format!(
                "Value ({v}) for parameter {name} is invalid. Expected: 'true' or 'false'."
            ))),
        }
    }

    /// An integer parameter; absent = `None`.
    pub fn int(&self, name: &str) -> Result<Option<i64>, Ec2Error> {
        self.get(name)
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| {
                    Ec2Error::invalid_value(format!(
                        "Value ({v}) for parameter {name} is invalid. Expected an integer."
                    ))
                })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Params {
        Params::from_parts(
            &[],
            s.as_bytes(),
            Some("application/x-www-form-urlencoded; charset=utf-8"),
        )
    }

    #[test]
    fn lists_filters_and_scalars() {
        let q = p("Action=DescribeNetworkInterfaces&Version=2016-11-15\
                   &NetworkInterfaceId.2=eni-b&NetworkInterfaceId.1=eni-a\
                   &Filter.2.Name=subnet-id&Filter.2.Value.1=subnet-1\
                   &Filter.1.Name=addresses.private-ip-address&Filter.1.Value.2=10.0.0.2&Filter.1.Value.1=10.0.0.1\
                   &DryRun=TRUE&MaxResults=5&Note=a+b%2Bc");
        assert_eq!(q.get("Action"), Some("DescribeNetworkInterfaces"));
        assert_eq!(q.list("NetworkInterfaceId").unwrap(), ["eni-a", "eni-b"]);
        assert_eq!(
            q.filters().unwrap(),
            vec![
                Filter {
                    name: "addresses.private-ip-address".into(),
                    values: vec!["10.0.0.1".into(), "10.0.0.2".into()]
                },
                Filter {
                    name: "subnet-id".into(),
                    values: vec!["subnet-1".into()]
                },
            ]
        );
        assert_eq!(q.bool("DryRun").unwrap(), Some(true));
        assert_eq!(q.bool("AllowReassignment").unwrap(), None);
        assert_eq!(q.int("MaxResults").unwrap(), Some(5));
        assert_eq!(q.get("Note"), Some("a b+c"));
        assert_eq!(q.require("Nope").unwrap_err().code, "MissingParameter");
    }

    #[test]
    fn bad_values_answer_ec2_errors() {
        let table = [
            ("DryRun=yes", "bool"),
            ("MaxResults=lots", "int"),
            ("PrivateIpAddress.x=1", "list"),
            ("PrivateIpAddress.0=1", "list"),
            ("Filter.1.Value.1=x", "filters"),
            ("Filter.1.Name=subnet-id", "filters"),
            ("Filter.a.Name=x", "filters"),
            ("Filter.1.Bogus=x", "filters"),
        ];
        for (body, what) in table {
            let q = p(body);
            let err = match what {
                "bool" => q.bool("DryRun").unwrap_err(),
                "int" => q.int("MaxResults").unwrap_err(),
                "list" => q.list("PrivateIpAddress").unwrap_err(),
                _ => q.filters().unwrap_err(),
            };
            assert_eq!(err.code, "InvalidParameterValue", "{body}");
            assert_eq!(err.status, 400, "{body}");
        }
    }

    #[test]
    fn query_and_body_merge_and_non_forms_are_ignored() {
        let query = vec![("Action".to_string(), "X".to_string())];
        let q = Params::from_parts(&query, b"Version=2016-11-15", None);
        assert_eq!(
            (q.get("Action"), q.get("Version")),
            (Some("X"), Some("2016-11-15"))
        );
        let q = Params::from_parts(&query, b"{\"a\":1}", Some("application/json"));
        assert_eq!(q.pairs().len(), 1);
    }
}
