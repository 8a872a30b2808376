//! `gatehouse`: the native command-line tool. It validates plugin configurations with the same code the
//! filter runs in `on_configure`, makes keys, mints Direct Access Tokens, and probes a running deployment.

mod keygen;
mod mint;
mod placeholders;
mod probe;

use std::process::ExitCode;

const USAGE: &str = "usage:
  gatehouse validate-config FILE [--no-env]
      Validate a plugin configuration exactly as the filter does; print every problem with its JSON path.
      Secrets named by *_env fields are read from this process's environment (--no-env: fill them with
      placeholders and check only the configuration itself).
  gatehouse schema
      Print the plugin configuration's JSON Schema (draft 2020-12), generated from the loader's field tables.
  gatehouse keygen --type hmac|ed25519|p256|p384|rsa [--kid KID] [--bits 2048]
      Print a new key as JSON: {\"private_jwk\": ..., \"jwks\": {\"keys\": [public]}}; for hmac, {\"secret\": ...}.
  gatehouse token mint (--key PRIVATE_JWK_FILE | --hmac-env VAR --alg HS256|HS384|HS512) [--kid KID]
      --iss ISS --aud AUD --sub SUB [--ttl SECONDS] [--role ROLE]
      [--scope organization|workspace|deployment --org ID [--workspace ID] [--deployment ID]]
      [--jti ID] [--claim NAME=JSON]...
      Print a signed token (a Direct Access Token when --scope is given).
  gatehouse probe --url http://HOST:PORT [--host HOSTNAME] [--public PATH]
      [--api PATH (--token-env VAR | --token-file FILE)] [--session PATH]
      [--legacy-header NAME --legacy-value-env VAR] [--timeout-ms 3000] [--format text|json|prometheus]
      Check a running deployment end to end (exit 0 all ok, 1 a check failed, 2 usage error);
      `gatehouse probe --help` for the checks.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("validate-config") => validate(args.get(1..).unwrap_or_default()),
        Some("keygen") => keygen::run(args.get(1..).unwrap_or_default()),
        Some("schema") => {
            // The JSON Schema of the plugin configuration, generated from the same field tables the loader
            // reads through (checked in as schema/gatehouse-config.schema.json).
            let schema = gatehouse::config::schema::schema();
            println!("{}", serde_json::to_string_pretty(&schema).unwrap_or_default());
            return ExitCode::SUCCESS;
        }
        Some("probe") => return probe::run(args.get(1..).unwrap_or_default()),
        Some("token") if args.get(1).map(String::as_str) == Some("mint") => {
            mint::run(args.get(2..).unwrap_or_default())
        }
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Returns the value after `--name`, if given.
pub fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

pub fn flags(args: &[String], name: &str) -> Vec<String> {
    args.windows(2).filter(|w| w.first().is_some_and(|a| a == name)).filter_map(|w| w.get(1).cloned()).collect()
}

fn validate(args: &[String]) -> Result<(), String> {
    let file = args.iter().find(|a| !a.starts_with("--")).ok_or("validate-config needs a FILE")?;
    let no_env = args.iter().any(|a| a == "--no-env");
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {file}: {e}"))?;
    // With --no-env, every variable the configuration names gets a stand-in of the shape its field needs.
    let stand_ins = serde_json::from_slice(&bytes).map(|doc| placeholders::for_config(&doc)).unwrap_or_default();
    let placeholder = |name: &str| Some(stand_ins.get(name).cloned().unwrap_or_else(|| "x".repeat(64)));
    let real = |name: &str| std::env::var(name).ok();
    let env: &dyn Fn(&str) -> Option<String> = if no_env { &placeholder } else { &real };
    match gatehouse::load_config(&bytes, env) {
        Ok(cfg) => {
            println!("{file}: ok ({} routes, {} issuers)", cfg.routes.len(), cfg.issuers.len());
            Ok(())
        }
        Err(errors) => {
            let mut out = format!("{file}: invalid configuration ({} problems):", errors.len());
            for e in errors.iter() {
                out.push_str(&format!("\n  {e}"));
            }
            Err(out)
        }
    }
}
