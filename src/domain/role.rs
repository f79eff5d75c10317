use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a person may do. Each role includes everything the roles below it may do:
/// an admin can review and lead, a lead can review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Reviewer,
    Lead,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Reviewer, Role::Lead, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reviewer => "reviewer",
            Role::Lead => "lead",
            Role::Admin => "admin",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Reviewer => "Reviewer",
            Role::Lead => "Team lead",
            Role::Admin => "Admin",
        }
    }

    /// Whether someone with this role may do what `required` allows.
    pub fn includes(self, required: Role) -> bool {
        self >= required
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "reviewer" => Ok(Role::Reviewer),
            "lead" => Ok(Role::Lead),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role '{other}': use reviewer, lead or admin")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_ones_below() {
        assert!(Role::Admin.includes(Role::Lead));
        assert!(Role::Admin.includes(Role::Reviewer));
        assert!(Role::Lead.includes(Role::Reviewer));
        assert!(!Role::Lead.includes(Role::Admin));
        assert!(!Role::Reviewer.includes(Role::Lead));
        assert!(Role::Reviewer.includes(Role::Reviewer));
    }

    #[test]
    fn parses_case_insensitively_and_refuses_unknown() {
        assert_eq!("Admin".parse::<Role>(), Ok(Role::Admin));
        assert_eq!(" lead ".parse::<Role>(), Ok(Role::Lead));
        assert!("owner".parse::<Role>().unwrap_err().contains("unknown role"));
    }

    #[test]
    fn round_trips_as_text() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
    }
}
