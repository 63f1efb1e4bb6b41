//! Kong release versions: parsing what operators and `kong version` write, and ordering them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Kong release number. Kong Enterprise adds a fourth part (3.4.3.5); it is kept for display but the
/// migrations of an Enterprise build follow the open-source release of the first three parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// The "x.y" series this release belongs to.
    pub fn series(&self) -> (u32, u32) {
        (self.major, self.minor)
    }

    /// Finds the first `N.N.N` in free text such as `Kong 3.4.2`, `Kong Enterprise 3.4.3.5` or
    /// `3.9.3`, as printed by the different generations of `kong version`.
    pub fn find_in(text: &str) -> Option<Version> {
        text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|tok| !tok.is_empty())
            .find_map(|tok| {
                let parts: Vec<&str> = tok.split('.').filter(|p| !p.is_empty()).collect();
                if parts.len() < 3 {
                    return None;
                }
                let nums: Option<Vec<u32>> = parts[..3].iter().map(|p| p.parse().ok()).collect();
                nums.map(|n| Version::new(n[0], n[1], n[2]))
            })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionParseError(pub String);

impl fmt::Display for VersionParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a Kong version: expected MAJOR.MINOR.PATCH, e.g. 3.4.2",
            self.0
        )
    }
}

impl std::error::Error for VersionParseError {}

impl FromStr for Version {
    type Err = VersionParseError;

    /// Strict form: `3.4.2`, optionally `v3.4.2` or an Enterprise `3.4.3.5`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let t = t.strip_prefix('v').unwrap_or(t);
        let parts: Vec<&str> = t.split('.').collect();
        if !(3..=4).contains(&parts.len()) {
            return Err(VersionParseError(s.to_string()));
        }
        let mut nums = [0u32; 4];
        for (i, p) in parts.iter().enumerate() {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(VersionParseError(s.to_string()));
            }
            nums[i] = p.parse().map_err(|_| VersionParseError(s.to_string()))?;
        }
        Ok(Version::new(nums[0], nums[1], nums[2]))
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders() {
        let a: Version = "2.8.5".parse().unwrap();
        let b: Version = "3.4.2".parse().unwrap();
        let c: Version = "3.10.0".parse().unwrap();
        assert!(a < b && b < c);
        assert_eq!("v3.4.2".parse::<Version>().unwrap(), b);
        assert_eq!("3.4.3.5".parse::<Version>().unwrap(), Version::new(3, 4, 3));
        assert!("3.4".parse::<Version>().is_err());
        assert!("3.4.x".parse::<Version>().is_err());
        assert!("".parse::<Version>().is_err());
    }

    #[test]
    fn finds_in_kong_version_output() {
        assert_eq!(Version::find_in("Kong 3.4.2"), Some(Version::new(3, 4, 2)));
        assert_eq!(
            Version::find_in("Kong Enterprise 3.4.3.5\n"),
            Some(Version::new(3, 4, 3))
        );
        assert_eq!(Version::find_in("2.8.5"), Some(Version::new(2, 8, 5)));
        assert_eq!(Version::find_in("no version here 1.2"), None);
    }
}
