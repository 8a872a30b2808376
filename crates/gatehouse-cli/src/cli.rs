//! The command line's grammar, in one place: every subcommand, option and value the parser accepts. Anything
//! else is a usage error (exit 2) with the nearest valid spelling suggested.

use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// `0.1.0 (commit 0123456789ab)`: the commit comes from build.rs (the checkout's HEAD, or
/// GATEHOUSE_GIT_COMMIT as scripts/build.sh sets it).
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("GATEHOUSE_CLI_COMMIT"), ")");

#[derive(Parser, Debug)]
#[command(
    name = "gatehouse",
    version = VERSION,
    about = "Validate Gatehouse configurations, make keys, mint tokens, probe a deployment.",
    propagate_version = true,
    arg_required_else_help = true,
    after_help = "Exit status: 0 success, 1 the work failed (e.g. an invalid configuration), 2 a usage error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Validate a plugin configuration exactly as the filter does, printing every problem with its JSON path.
    ValidateConfig(ValidateArgs),
    /// Print the plugin configuration's JSON Schema (draft 2020-12), generated from the loader's field tables.
    Schema,
    /// Print the Envoy `stats_config` that turns Gatehouse's metric names into Prometheus labels.
    StatsTags,
    /// Print a new key as JSON: {"private_jwk": ..., "jwks": {"keys": [public]}}; for hmac, {"secret": ...}.
    Keygen(KeygenArgs),
    /// Tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Check a running deployment end to end, from outside, as its users reach it.
    Probe(ProbeArgs),
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Print a signed token (a Direct Access Token when --scope is given).
    Mint(MintArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Args, Debug)]
#[command(after_help = "\
FILE may be the plugin configuration itself (JSON or YAML), an Istio WasmPlugin (spec.pluginConfig), an \
Envoy bootstrap (every envoy.filters.http.wasm filter's configuration, and the files its extension config \
discovery reads, relative to the working directory as Envoy reads them) or an ECDS resource file. YAML \
files may hold several documents. Where the document says what the VM's environment is \
(vm_config.environment_variables, vmConfig.env), a secret the configuration names but the VM does not get \
is a problem.

Exit status: 0 every configuration is valid, 1 a configuration is invalid or cannot be read, 2 a usage \
error.")]
pub struct ValidateArgs {
    /// The file to validate, or - for standard input.
    #[arg(value_name = "FILE")]
    pub file: String,
    /// Do not read secrets: every *_env variable the VM gets is filled with a stand-in of the shape its field
    /// needs, so only the configuration itself is checked.
    #[arg(long)]
    pub no_env: bool,
    /// Output format (json: one object for scripts, with every problem's path and message).
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KeyType {
    Hmac,
    Ed25519,
    P256,
    P384,
    Rsa,
}

#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// The kind of key.
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub kind: KeyType,
    /// The key id (default: 8 random characters).
    #[arg(long)]
    pub kid: Option<String>,
    /// RSA modulus size (rsa only).
    #[arg(long, value_parser = clap::value_parser!(u16).range(2048..=4096))]
    pub bits: Option<u16>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scope {
    Organization,
    Workspace,
    Deployment,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Encoding {
    /// The variable holds the secret's bytes as they are.
    Raw,
    /// The variable holds the secret base64url-encoded, as `gatehouse keygen --type hmac` prints it.
    Base64url,
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("signer").required(true).args(["key", "hmac_env"]))]
pub struct MintArgs {
    /// A private JWK, or the whole output of `gatehouse keygen`.
    #[arg(long, value_name = "PRIVATE_JWK_FILE")]
    pub key: Option<String>,
    /// An environment variable holding an HMAC secret (needs --alg HS256|HS384|HS512).
    #[arg(long, value_name = "VAR", requires = "alg")]
    pub hmac_env: Option<String>,
    /// How the --hmac-env variable holds the secret.
    #[arg(long, value_enum, default_value_t = Encoding::Raw, requires = "hmac_env")]
    pub encoding: Encoding,
    /// The signing algorithm (default: the key's own `alg`).
    #[arg(long, value_parser = parse_alg)]
    pub alg: Option<String>,
    /// The key id in the token's header (default: the key's own `kid`).
    #[arg(long)]
    pub kid: Option<String>,
    /// The `iss` claim.
    #[arg(long)]
    pub iss: String,
    /// The `aud` claim.
    #[arg(long)]
    pub aud: String,
    /// The `sub` claim.
    #[arg(long)]
    pub sub: String,
    /// Seconds until the token expires.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub ttl: u64,
    /// The `role` claim.
    #[arg(long)]
    pub role: Option<String>,
    /// Make a Direct Access Token of this scope.
    #[arg(long, value_enum)]
    pub scope: Option<Scope>,
    /// The organization (with --scope).
    #[arg(long, value_name = "ID", requires = "scope")]
    pub org: Option<String>,
    /// The workspace (with --scope workspace or deployment).
    #[arg(long, value_name = "ID", requires = "scope")]
    pub workspace: Option<String>,
    /// The deployment (with --scope deployment).
    #[arg(long, value_name = "ID", requires = "scope")]
    pub deployment: Option<String>,
    /// The `jti` claim (default: 16 random characters).
    #[arg(long, value_name = "ID")]
    pub jti: Option<String>,
    /// Another claim; VALUE is JSON, or else taken as a string. May be repeated.
    #[arg(long, value_name = "NAME=VALUE")]
    pub claim: Vec<String>,
}

fn parse_alg(a: &str) -> Result<String, String> {
    gatehouse::jwt::Alg::parse(a)
        .map(|_| a.to_owned())
        .ok_or_else(|| format!("expected one of {}", gatehouse::jwt::Alg::names()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProbeFormat {
    Text,
    Json,
    Prometheus,
}

#[derive(Args, Debug, Default)]
#[command(after_help = crate::probe::CHECKS)]
pub struct ProbeArgs {
    /// http://HOST:PORT[/prefix] of the listener to probe.
    #[arg(long)]
    pub url: Option<String>,
    /// The Host header (default: from --url).
    #[arg(long, value_name = "HOSTNAME")]
    pub host: Option<String>,
    /// A public route that must answer 2xx.
    #[arg(long, value_name = "PATH")]
    pub public: Option<String>,
    /// An API route that must accept the Direct Access Token and refuse a request without it.
    #[arg(long, value_name = "PATH")]
    pub api: Option<String>,
    /// The environment variable holding the token for --api.
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,
    /// A file holding the token for --api.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<String>,
    /// A session route: a browser without a session must be sent to sign in.
    #[arg(long, value_name = "PATH")]
    pub session: Option<String>,
    /// The canary header that sends a request down the legacy path.
    #[arg(long, value_name = "NAME")]
    pub legacy_header: Option<String>,
    /// The environment variable holding the canary header's value.
    #[arg(long, value_name = "VAR")]
    pub legacy_value_env: Option<String>,
    /// How long each check may take.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub timeout_ms: Option<u64>,
    /// The plugin configuration (JSON) of a dataplane, to probe its deployments.
    #[arg(long, value_name = "FILE")]
    pub config: Option<String>,
    /// With --config: the deployment to probe, or `all`.
    #[arg(long, value_name = "ID")]
    pub deployment: Option<String>,
    /// Report format.
    #[arg(long, value_enum)]
    pub format: Option<ProbeFormat>,
}

/// Prints a parser error (or the help and version it was asked for) and returns its exit status. What the
/// user typed after an unknown option's `=`, and a probe's stray argument, are never echoed: they could be a
/// token pasted in the wrong place.
pub fn usage_error(e: &clap::Error, args: &[String]) -> ExitCode {
    let code = u8::try_from(e.exit_code()).unwrap_or(2);
    let rendered = render(e, args);
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        print!("{rendered}");
    } else {
        eprint!("{rendered}");
    }
    ExitCode::from(code)
}

/// The parser's message, with what could be a secret left out.
pub fn render(e: &clap::Error, args: &[String]) -> String {
    let mut rendered = e.render().to_string();
    if e.kind() == ErrorKind::UnknownArgument {
        if let Some(ContextValue::String(given)) = e.get(ContextKind::InvalidArg) {
            let probe = args.get(1).is_some_and(|a| a == "probe");
            let shown = match given.split_once('=') {
                Some((name, _)) if given.starts_with('-') => format!("{name}=…"),
                _ if probe && !given.starts_with('-') => {
                    let position = args.iter().position(|a| a == given).unwrap_or_default();
                    format!("#{position} (not shown; every option takes the form --name VALUE)")
                }
                _ => given.clone(),
            };
            rendered = rendered.replace(given.as_str(), &shown);
            if probe && given.contains("token") {
                rendered.push_str(
                    "\nsecrets are read only from --token-env VAR, --token-file FILE or --legacy-value-env VAR, \
                     never from the command line\n",
                );
            }
        }
    }
    rendered
}
