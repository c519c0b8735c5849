//! Every command, flag and help text of envctl (clap derive; doc comments are the help).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::profile::{ImageTag, WebhookUrl};

/// Provision and operate the rates service's environments.
///
/// Each environment is one YAML profile in environments/ (base, dev, staging,
/// production, review, local). envctl renders Terraform, Kubernetes manifests and
/// CloudWatch alarms from it, deploys them to AWS, or runs the whole system on
/// this machine (`envctl up local`).
#[derive(Debug, Parser)]
#[command(name = "envctl", version, propagate_version = true)]
#[command(
    after_help = "Examples:\n  envctl list\n  envctl render staging\n  envctl plan staging\n  envctl up local --yes\n  envctl up staging\n  envctl review up --pr 42 --branch feature/x"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags accepted by every command.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Output format: human-readable text, or one JSON document (or event per line) for machines.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Answer "yes" to confirmations; needed when there is no terminal to ask.
    /// Protected environments also need `--force-protected ENV` to be taken down.
    #[arg(long, short = 'y', global = true)]
    pub yes: bool,

    /// AWS region, overriding the profile's region.
    #[arg(long, global = true, env = "ENVCTL_REGION")]
    pub region: Option<String>,

    /// An AWS-compatible endpoint to send every AWS API call to (for emulators).
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,

    /// More log output (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// The project root holding environments/, templates/ and terraform/.
    /// Default: the nearest ancestor of the current directory that has them.
    #[arg(long, global = true, env = "ENVCTL_ROOT")]
    pub root: Option<PathBuf>,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable text with progress display.
    Text,
    /// JSON: one document, or one event per line for long-running commands.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the environments and their main settings.
    List,

    /// Render an environment's Terraform, Kubernetes and CloudWatch files (no cloud access).
    Render(RenderArgs),

    /// Show how two environments differ: profile values, then rendered files.
    Diff(DiffArgs),

    /// Inspect profiles.
    #[command(subcommand)]
    Profile(ProfileCommand),

    /// Create or update the Terraform state backend (S3 bucket + DynamoDB lock table)
    /// for an environment's account and region.
    Bootstrap(EnvArgs),

    /// Render and show what `up` would change. Exit code 0: no changes, 2: changes, 1: error.
    Plan(PlanArgs),

    /// Deploy an environment: state backend, Terraform, Kubernetes rollout, alarms, dashboard.
    /// `envctl up local` runs the whole system on this machine instead.
    Up(UpArgs),

    /// Tear an environment down: alarms, Kubernetes objects, then Terraform resources.
    Down(DownArgs),

    /// Show an environment's state: stack, cluster, rollout, alarms (ALARM first), endpoints.
    Status(EnvArgs),

    /// Apply an earlier release again: its Deployments and the ConfigMaps and Secrets they
    /// read (never its migration Job: migrations only go forward).
    #[command(
        after_help = "Without --to: the newest earlier release that succeeded. `envctl history ENV` lists\nthe revisions. The rollback is recorded as a new revision; the release rolled away from\nis marked rolled back. See docs/operations.md \"Rollback\".\n\nExamples:\n  envctl rollback staging\n  envctl --yes rollback production --to 41"
    )]
    Rollback(RollbackArgs),

    /// Report what differs from what envctl applied: Terraform (refresh-only plan),
    /// Kubernetes objects, CloudWatch alarms and dashboard. Exit code 0: no drift, 2: drift, 1: error.
    #[command(
        after_help = "Read-only: no lock, no writes. Expected differences (the migration Job removed by its\nTTL, a minor engine version RDS upgraded by itself, replicas an autoscaler owns) are\nlisted but are not drift. See docs/operations.md \"Drift\".\n\nExamples:\n  envctl drift staging\n  envctl --output json drift production"
    )]
    Drift(DriftArgs),

    /// List the releases envctl applied to an environment: revision, when, image tag,
    /// commit, by whom, outcome.
    History(EnvArgs),

    /// Show the logs of the local environment's processes.
    Logs(LogsArgs),

    /// Per-pull-request review stacks with an expiry.
    #[command(subcommand)]
    Review(ReviewCommand),

    /// Print a shell completion script.
    Completions(CompletionsArgs),
}

/// An environment name, e.g. `staging`.
#[derive(Debug, Clone, Args)]
pub struct EnvArgs {
    /// The environment (a profile in environments/, e.g. dev, staging, production, local).
    pub env: String,
}

#[derive(Debug, Clone, Args)]
pub struct RenderArgs {
    /// The environment to render.
    pub env: String,
    /// Where to write the files (default: .envctl/ENV/ under the project root).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    /// The first environment.
    pub a: String,
    /// The second environment.
    pub b: String,
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Print an environment's fully merged profile (after `extends:`).
    Show(EnvArgs),
}

/// Where the terraform binary is.
#[derive(Debug, Clone, Args)]
pub struct TerraformArgs {
    /// The terraform binary (default: $TERRAFORM, then `terraform` on PATH).
    #[arg(long, env = "TERRAFORM")]
    pub terraform: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// The environment to plan.
    pub env: String,
    #[command(flatten)]
    pub terraform: TerraformArgs,
}

#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    /// The environment to deploy (`local`: run everything on this machine).
    pub env: String,
    #[command(flatten)]
    pub terraform: TerraformArgs,
    /// How long to wait for the migration Job and the rollouts, e.g. 10m.
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
    /// The runtime image tag to deploy instead of the profile's `runtime.image.tag`
    /// (CI passes the commit SHA it built and pushed). Whichever tag is deployed, its
    /// contract version is read from ECR first: an image built from another contract is
    /// refused before anything changes.
    #[arg(long, value_name = "TAG", value_parser = parse_image_tag)]
    pub image_tag: Option<ImageTag>,
    /// Deploy the image even when its contract version (read from ECR) is missing or
    /// differs from this envctl's. For an image built before images were stamped, when
    /// you know it reads the settings this envctl renders.
    #[arg(long)]
    pub skip_contract_check: bool,
    /// Lets a protected environment's destroys and replacements through without a
    /// terminal; the environment's name repeated (e.g. `--force-protected production`).
    #[arg(long, value_name = "ENV")]
    pub force_protected: Option<String>,
    /// Deploy although a rollback alarm is already in ALARM (to ship the fix for it). The
    /// bake watches such an alarm again once it has left ALARM; without this flag `up`
    /// refuses before anything is applied.
    #[arg(long)]
    pub ignore_firing_alarms: bool,
    /// local only: the runtime binary to run (default: build it with cargo, or find it in target/).
    #[arg(long, env = "ENVCTL_RATES_BIN")]
    pub rates_bin: Option<PathBuf>,
    /// local only: how many worker processes to start (default: from the profile).
    #[arg(long)]
    pub workers: Option<u32>,
    /// local only: do not load the synthetic demo data.
    #[arg(long)]
    pub no_demo_data: bool,
    /// local only: the api's port on 127.0.0.1 (default: the last one used if free, else any free port).
    #[arg(long, env = "ENVCTL_LOCAL_API_PORT")]
    pub api_port: Option<u16>,
    /// local only: PostgreSQL's port on 127.0.0.1 (default: the last one used if free, else any free port).
    #[arg(long, env = "ENVCTL_LOCAL_DB_PORT")]
    pub db_port: Option<u16>,
    /// local only: post batch outcome events to this URL (instead of the profile's
    /// runtime.events.webhook_url), signed with the key in .envctl/local/webhook-secret.
    #[arg(long, value_name = "URL", value_parser = parse_webhook_url)]
    pub webhook_url: Option<WebhookUrl>,
}

#[derive(Debug, Clone, Args)]
pub struct DriftArgs {
    /// The environment to compare.
    pub env: String,
    #[command(flatten)]
    pub terraform: TerraformArgs,
}

#[derive(Debug, Clone, Args)]
pub struct RollbackArgs {
    /// The environment to roll back.
    pub env: String,
    /// The revision to go back to (from `envctl history ENV`).
    #[arg(long, value_name = "REVISION")]
    pub to: Option<u32>,
    /// How long to wait for the rollout, e.g. 10m.
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Clone, Args)]
pub struct DownArgs {
    /// The environment to tear down.
    pub env: String,
    #[command(flatten)]
    pub terraform: TerraformArgs,
    /// Required, with the environment's name repeated, to take down a protected environment
    /// without a terminal (e.g. `--force-protected production`).
    #[arg(long, value_name = "ENV")]
    pub force_protected: Option<String>,
    /// local only: also delete the database and logs under .envctl/local/.
    #[arg(long)]
    pub purge: bool,
}

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// The environment (only `local` keeps logs on this machine).
    pub env: String,
    /// Which process: api, worker or db (default: all).
    #[arg(value_enum)]
    pub component: Option<LogComponent>,
    /// How many lines from the end of each log.
    #[arg(long, short = 'n', default_value_t = 50)]
    pub lines: usize,
    /// Keep printing new lines as they are written.
    #[arg(long, short = 'f')]
    pub follow: bool,
}

/// A local process whose log can be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogComponent {
    Api,
    Worker,
    Db,
}

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// Create or refresh the review stack of a pull request (re-running extends its expiry).
    #[command(
        after_help = "The stack is named review-pr<N>[-<branch slug>]-<hash> (at most 32 characters).\nIts record (owner, PR, expiry, status) is the tagged CloudFormation stack\nenvctl-review-pr<N>, written before the deploy starts. See docs/review-stacks.md.\n\nExamples:\n  envctl review up --pr 42 --branch feature/x\n  envctl --yes --output json review up --pr 42 --branch feature/x --ttl 24h"
    )]
    Up(ReviewUpArgs),
    /// Tear down a pull request's review stack (safe to re-run; resumes interrupted teardowns).
    Down(ReviewDownArgs),
    /// List every review stack found in the cloud, with age, expiry and status.
    List,
    /// Tear down review stacks of closed pull requests, past their maximum lifetime, or expired.
    #[command(
        after_help = "gc fails safe: if any listing call fails, or a review stack's record does not\nread back, it deletes nothing and exits non-zero.\n\nA stack whose pull request is open is never torn down before its maximum lifetime\n(review.max_lifetime), even past its expiry; the report lists it as kept. The states\ncome from --open-prs, else from the GitHub API (GITHUB_TOKEN, GITHUB_REPOSITORY or\n--repo; a failed lookup deletes nothing); with neither, gc says it assumes no pull\nrequest is open and only expiry and the maximum count.\n\nExamples:\n  envctl review gc --dry-run\n  GITHUB_TOKEN=... envctl --yes review gc --repo example-org/rates\n  envctl --yes review gc --open-prs 12,15"
    )]
    Gc(ReviewGcArgs),
    /// Move a review stack's expiry later, up to the review profile's maximum lifetime.
    #[command(
        after_help = "From the current expiry (or from now, if it has passed). No extension passes\nthe stack's creation plus review.max_lifetime (environments/review.yaml); past it\nthe command fails naming the maximum. Only the record changes, nothing is redeployed.\nOn GitHub, the `review-extend` label on a pull request runs this with --by 2d.\n\nExamples:\n  envctl review extend --pr 42 --by 2d\n  envctl --output json review extend --pr 42 --by 12h"
    )]
    Extend(ReviewExtendArgs),
    /// Comment on the pull requests whose review stack expires soon (once per expiry).
    #[command(
        after_help = "Warns review.warn_before (environments/review.yaml, default 24h) before each\nstack's expiry, on its pull request, unless the pull request is closed. Each comment\nstarts with a hidden marker naming the stack and its expiry, so re-runs find it and\npost nothing new; an extension gives a new expiry and, in time, a new warning.\nNeeds GITHUB_TOKEN (pull-requests: write) and GITHUB_REPOSITORY or --repo.\n\nExamples:\n  envctl review warn --dry-run --repo example-org/rates\n  GITHUB_TOKEN=... envctl review warn"
    )]
    Warn(ReviewWarnArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ReviewExtendArgs {
    /// The pull request number.
    #[arg(long)]
    pub pr: u64,
    /// How much later the stack expires, e.g. 12h, 2d.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub by: std::time::Duration,
}

#[derive(Debug, Clone, Args)]
pub struct ReviewWarnArgs {
    /// Report which pull requests would be warned without commenting.
    #[arg(long)]
    pub dry_run: bool,
    /// The GitHub repository, OWNER/NAME (default: $GITHUB_REPOSITORY).
    #[arg(long, value_name = "OWNER/NAME")]
    pub repo: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ReviewUpArgs {
    /// The pull request number.
    #[arg(long)]
    pub pr: u64,
    /// The pull request's branch (used, sanitised, in the stack name).
    #[arg(long)]
    pub branch: Option<String>,
    /// How long the stack lives before `review gc` removes it, e.g. 72h, 3d.
    #[arg(long, default_value = "72h", value_parser = humantime::parse_duration)]
    pub ttl: std::time::Duration,
    /// Who owns the stack (default: $GITHUB_ACTOR, then $USER).
    #[arg(long)]
    pub owner: Option<String>,
    /// The runtime image tag to deploy (the pull request's head commit SHA, as CI built it);
    /// default: the review profile's `runtime.image.tag`. Either is refused when its contract
    /// version (read from ECR) is not this envctl's.
    #[arg(long, value_name = "TAG", value_parser = parse_image_tag)]
    pub image_tag: Option<ImageTag>,
    #[command(flatten)]
    pub terraform: TerraformArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ReviewDownArgs {
    /// The pull request number.
    #[arg(long)]
    pub pr: u64,
    #[command(flatten)]
    pub terraform: TerraformArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ReviewGcArgs {
    /// Report what would be torn down without doing it.
    #[arg(long)]
    pub dry_run: bool,
    /// The pull requests still open (comma-separated); stacks of any other PR are removed too.
    /// Default: each stack's pull request state from the GitHub API when GITHUB_TOKEN is set.
    #[arg(long, value_delimiter = ',')]
    pub open_prs: Option<Vec<u64>>,
    /// The GitHub repository, OWNER/NAME (default: $GITHUB_REPOSITORY).
    #[arg(long, value_name = "OWNER/NAME")]
    pub repo: Option<String>,
    #[command(flatten)]
    pub terraform: TerraformArgs,
}

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `--image-tag`: the same rule as the profile's `runtime.image.tag`.
fn parse_webhook_url(value: &str) -> Result<WebhookUrl, String> {
    WebhookUrl::try_from(value.to_string())
}

fn parse_image_tag(value: &str) -> Result<ImageTag, String> {
    ImageTag::try_from(value.to_string())
}
