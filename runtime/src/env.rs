//! Typed reading of the contract's settings from the process environment: one
//! place that knows how a variable is looked up, defaulted and parsed.

use std::str::FromStr;

use rates_contract::settings::Setting;

use crate::error::{Error, Result};

/// Typed access to the contract's settings ([`rates_contract::settings`]): each is read by
/// its contract name, and a missing one falls back to the contract's default text, parsed
/// like a given value, so name and default are written only in the contract. Errors name
/// the variable.
pub struct Env<'a>(pub &'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    /// The value, or None when unset or empty (an empty variable counts as unset).
    pub fn get(&self, setting: Setting) -> Option<String> {
        (self.0)(setting.name).filter(|v| !v.trim().is_empty())
    }

    /// The value, else the contract's default (empty when it has none).
    pub fn string(&self, setting: Setting) -> String {
        self.get(setting)
            .unwrap_or_else(|| setting.default.value().unwrap_or_default().to_string())
    }

    /// The value; an error naming the variable when it is not given.
    pub fn required(&self, setting: Setting) -> Result<String> {
        self.get(setting)
            .ok_or_else(|| Error::config(setting.name, "is required but not set"))
    }

    pub fn required_url(&self, setting: Setting) -> Result<String> {
        let value = self.required(setting)?;
        check_postgres_url(setting.name, &value)?;
        Ok(value)
    }

    pub fn optional_url(&self, setting: Setting) -> Result<Option<String>> {
        match self.get(setting) {
            None => Ok(None),
            Some(value) => {
                check_postgres_url(setting.name, &value)?;
                Ok(Some(value))
            }
        }
    }

    /// A PEM file of CA certificates that exists and holds at least one certificate.
    pub fn ca_file(&self, setting: Setting) -> Result<Option<std::path::PathBuf>> {
        let name = setting.name;
        let Some(path) = self.get(setting) else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::config(name, format!("cannot read `{path}`: {e}")))?;
        if !text.contains("-----BEGIN CERTIFICATE-----") {
            return Err(Error::config(
                name,
                format!("`{path}` holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
            ));
        }
        Ok(Some(path.into()))
    }

    /// The value or the contract's default, parsed.
    pub fn parsed<T>(&self, setting: Setting) -> Result<T>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        let raw = match self.get(setting) {
            Some(raw) => raw,
            None => setting
                .default
                .value()
                .ok_or_else(|| Error::config(setting.name, "is required but not set"))?
                .to_string(),
        };
        raw.trim().parse().map_err(|e| {
            Error::config(
                setting.name,
                format!("`{raw}` is not a valid {}: {e}", type_label::<T>()),
            )
        })
    }

    pub fn positive(&self, setting: Setting) -> Result<u32> {
        let value: u32 = self.parsed(setting)?;
        if value == 0 {
            return Err(Error::config(setting.name, "must be at least 1"));
        }
        Ok(value)
    }

    pub fn boolean(&self, setting: Setting) -> Result<bool> {
        let raw = self
            .get(setting)
            .or_else(|| setting.default.value().map(str::to_string))
            .unwrap_or_default();
        match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" | "" => Ok(false),
            v => Err(Error::config(
                setting.name,
                format!("`{v}` is not a boolean (use true or false)"),
            )),
        }
    }
}

fn type_label<T>() -> &'static str {
    let name = std::any::type_name::<T>();
    match name {
        "core::net::socket_addr::SocketAddr" | "std::net::SocketAddr" => {
            "socket address (host:port)"
        }
        "u16" | "u32" | "u64" | "usize" => "non-negative integer",
        _ => name.rsplit("::").next().unwrap_or(name),
    }
}

fn check_postgres_url(name: &'static str, value: &str) -> Result<()> {
    if value.starts_with("postgres://") || value.starts_with("postgresql://") {
        value
            .parse::<sqlx::postgres::PgConnectOptions>()
            .map_err(|e| Error::config(name, format!("not a valid PostgreSQL URL: {e}")))?;
        Ok(())
    } else {
        Err(Error::config(
            name,
            "must be a PostgreSQL URL (postgres://user@host:port/database)",
        ))
    }
}
