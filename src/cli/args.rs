//! The command line's grammar: global flags, subcommands and their arguments (clap). Every flag
//! has an environment variable; `serve`'s own flags are the server's settings
//! ([`crate::config::ServeArgs`]).

use crate::config::ServeArgs;
use crate::telemetry::LogFormat;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/gatehouse.db";

#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about = "Human-in-the-loop review gateway for AI automations")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Database URL: `sqlite://PATH` (created on first start) or `postgres://...`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true, hide_env_values = true)]
    pub database_url: String,
    /// Log filter, e.g. `info` or `gatehouse=debug,tower_http=info`.
    #[arg(long, env = "GATEHOUSE_LOG", default_value = "info", global = true)]
    pub log_level: String,
    /// Log format.
    #[arg(long, env = "GATEHOUSE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web server (the default).
    Serve(Box<ServeArgs>),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage workflows.
    #[command(subcommand)]
    Workflow(WorkflowCommand),
    /// Create demo users and a demo workflow, then stream realistic items into a running server.
    Demo {
        /// Where the running Gatehouse answers.
        #[arg(long, default_value = "http://127.0.0.1:3000")]
        url: String,
        /// How many items to send.
        #[arg(long, default_value_t = 300)]
        items: u32,
        /// Items per second.
        #[arg(long, default_value_t = 20)]
        per_second: u32,
        /// Add the demo users (with their known password) even though the database has users
        /// of its own. Without it, the demo refuses such a database.
        #[arg(long)]
        yes: bool,
    },
    /// Manage API keys for automation systems.
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum WorkflowCommand {
    /// Create or update a workflow from a JSON file (idempotent); prints what changed.
    Apply {
        file: PathBuf,
        /// Why, recorded in the workflow's settings history.
        #[arg(long, default_value = "applied from file")]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key scoped to one or more workflows; the key is printed once.
    Create {
        /// A workflow the key may use (repeat for several).
        #[arg(long = "workflow", required = true)]
        workflows: Vec<String>,
        #[arg(long, default_value = "cli")]
        name: String,
        /// Let the key also import decision history and read threshold tuning.
        #[arg(long)]
        admin: bool,
    },
    /// Revoke a key by its id; it stops working at once.
    Revoke { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user. The password is read from GATEHOUSE_PASSWORD or, if unset, from stdin.
    Add {
        email: String,
        #[arg(long, value_parser = parse_role)]
        role: crate::domain::Role,
        #[arg(long)]
        name: Option<String>,
        /// The password is one you chose for them: they must choose their own at first sign-in
        /// (as for users an admin adds in the browser).
        #[arg(long)]
        temporary: bool,
    },
    /// Change a user's role.
    SetRole {
        email: String,
        #[arg(value_parser = parse_role)]
        role: crate::domain::Role,
    },
    /// Disable a user: their sessions end and they can no longer sign in.
    Disable { email: String },
    /// Enable a disabled user again.
    Enable { email: String },
}

fn parse_role(raw: &str) -> Result<crate::domain::Role, String> {
    raw.parse()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_need_no_configuration() {
        let cli = Cli::try_parse_from(["gatehouse"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.global.log_format, LogFormat::Human);
    }

    #[test]
    fn bad_role_is_a_clear_error() {
        let error = Cli::try_parse_from(["gatehouse", "user", "add", "a@b.io", "--role", "owner"]).unwrap_err();
        assert!(error.to_string().contains("unknown role 'owner'"), "{error}");
    }
}
