//! The `gatehouse` command line: serve, migrate, and the administration of users, workflows
//! and API keys. The grammar is in [`args`]; `gatehouse demo` in [`demo`].

pub mod args;
mod demo;

use crate::config::ServeArgs;
use crate::domain::Role;
use crate::error::AppError;
use crate::startup::Application;
use crate::storage::audit::Actor;
use crate::storage::db::Db;
use crate::users::server::{self as users, NewUser};
use anyhow::Context;
use args::{ApiKeyCommand, Cli, Command, UserCommand, WorkflowCommand};
use std::io::BufRead;

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    crate::telemetry::init(&cli.global.log_level, cli.global.log_format);
    let database_url = cli.global.database_url.clone();
    match cli.command {
        None => serve(&database_url, ServeArgs::default_from_env()?).await,
        Some(Command::Serve(args)) => serve(&database_url, *args).await,
        Some(Command::Migrate) => {
            let db = Db::connect(&database_url).await?;
            db.migrate().await?;
            println!("Migrations applied.");
            Ok(())
        }
        Some(Command::User(command)) => user_command(&open(&database_url).await?, command).await,
        Some(Command::Workflow(command)) => workflow_command(&open(&database_url).await?, command).await,
        Some(Command::ApiKey(command)) => api_key_command(&open(&database_url).await?, command).await,
        Some(Command::Demo { url, items, per_second, yes }) => {
            let options = demo::DemoOptions { url, items, per_second, even_with_other_users: yes };
            demo::run(&open(&database_url).await?, options).await
        }
    }
}

async fn open(database_url: &str) -> anyhow::Result<Db> {
    let db = Db::connect(database_url).await?;
    db.migrate().await?;
    Ok(db)
}

async fn workflow_command(db: &Db, command: WorkflowCommand) -> anyhow::Result<()> {
    use crate::workflows::server::{self as workflows, ApplyOutcome};
    match command {
        WorkflowCommand::Apply { file, reason } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("could not read {}", file.display()))?;
            let spec = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a valid workflow file", file.display()))?;
            let (workflow, outcome) =
                workflows::apply(db, &Actor::Cli, spec, &reason).await.map_err(AppError::for_terminal)?;
            match outcome {
                ApplyOutcome::Created => println!("Created workflow {} (version 1).", workflow.slug()),
                ApplyOutcome::Updated { changed } => println!(
                    "Updated workflow {} to version {}: {}.",
                    workflow.slug(),
                    workflow.settings_version,
                    changed.join(", ")
                ),
                ApplyOutcome::Unchanged => {
                    println!("Workflow {} is unchanged (version {}).", workflow.slug(), workflow.settings_version)
                }
            }
        }
    }
    Ok(())
}

async fn api_key_command(db: &Db, command: ApiKeyCommand) -> anyhow::Result<()> {
    use crate::api_keys::server as api_keys;
    match command {
        ApiKeyCommand::Create { workflows, name, admin } => {
            let key =
                api_keys::create(db, &Actor::Cli, &name, &workflows, admin).await.map_err(AppError::for_terminal)?;
            eprintln!("Created API key {} ({}) for {}. It is shown only now:", key.id, key.name, workflows.join(", "));
            println!("{}", key.token);
        }
        ApiKeyCommand::Revoke { id } => {
            api_keys::revoke(db, &Actor::Cli, id).await.map_err(AppError::for_terminal)?;
            println!("Revoked API key {id}.");
        }
    }
    Ok(())
}

async fn serve(database_url: &str, args: ServeArgs) -> anyhow::Result<()> {
    let app = Application::build(database_url, args).await?;
    let addr = app.local_addr()?;
    let url = format!("http://{addr}");
    tracing::info!(%url, allocator = crate::allocator::NAME, "Gatehouse is listening");
    println!("Gatehouse is running at {url}");
    if let Some(token) = app.setup_token() {
        // Whoever can read this output started the server: only they can create the first admin.
        tracing::warn!("no users yet: creating the first admin needs the setup token printed at start");
        println!(
            "No users yet: open {url}/setup?token={token} to create the first admin (or run `gatehouse user add`)."
        );
        println!("Setup token: {token}");
    } else {
        println!("Sign in at {url}/login");
    }
    app.run_until_stopped().await.context("server error")
}

async fn user_command(db: &Db, command: UserCommand) -> anyhow::Result<()> {
    let actor = Actor::Cli;
    match command {
        UserCommand::Add { email, role, name, temporary } => {
            let password = read_password()?;
            let mut new_user = NewUser::parse(&email, name.as_deref().unwrap_or(""), role, &password, "password")
                .map_err(AppError::for_terminal)?;
            if temporary {
                new_user = new_user.with_temporary_password();
            }
            let user = users::create(db, &actor, new_user).await.map_err(AppError::for_terminal)?;
            println!("Added {} ({}) as {}.", user.name, user.email, user.role.label());
            if user.temporary_password {
                println!("They will choose their own password when they first sign in.");
            }
        }
        UserCommand::SetRole { email, role } => {
            let user = users::require_by_email(db, &email).await.map_err(AppError::for_terminal)?;
            let user = users::set_role(db, &actor, user.id, role).await.map_err(AppError::for_terminal)?;
            println!("{} is now {}.", user.email, role_phrase(user.role));
        }
        UserCommand::Disable { email } => {
            let user = users::require_by_email(db, &email).await.map_err(AppError::for_terminal)?;
            users::set_disabled(db, &actor, user.id, true).await.map_err(AppError::for_terminal)?;
            println!("Disabled {}.", user.email);
        }
        UserCommand::Enable { email } => {
            let user = users::require_by_email(db, &email).await.map_err(AppError::for_terminal)?;
            users::set_disabled(db, &actor, user.id, false).await.map_err(AppError::for_terminal)?;
            println!("Enabled {}.", user.email);
        }
    }
    Ok(())
}

fn role_phrase(role: Role) -> String {
    match role {
        Role::Admin => "an admin".into(),
        other => format!("a {}", other.label().to_lowercase()),
    }
}

/// The password comes from `GATEHOUSE_PASSWORD`; else, at a terminal, it is asked for twice
/// without echo; else it is the first line of stdin. It never appears in the process list or
/// the shell history.
fn read_password() -> anyhow::Result<String> {
    use std::io::IsTerminal;
    if let Ok(password) = std::env::var("GATEHOUSE_PASSWORD") {
        return Ok(password);
    }
    if std::io::stdin().is_terminal() {
        let password = rpassword::prompt_password("Password: ").context("could not read the password")?;
        anyhow::ensure!(!password.is_empty(), "no password given: nothing was changed");
        let again = rpassword::prompt_password("The same password again: ").context("could not read the password")?;
        anyhow::ensure!(password == again, "the two passwords differ: nothing was changed");
        return Ok(password);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("could not read the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(!password.is_empty(), "no password given: set GATEHOUSE_PASSWORD or pipe it on stdin");
    Ok(password)
}
