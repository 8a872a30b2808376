//! `gatehouse validate-config`: every plugin configuration in a file (or standard input) through the loader
//! the filter runs in `on_configure`, each problem with its JSON path, as text or as JSON for scripts.

use std::io::Read;

use serde_json::{json, Value};

use crate::cli::{Output, ValidateArgs};
use crate::locate::{self, Found};
use crate::{placeholders, Failure};

pub fn run(a: &ValidateArgs) -> Result<(), Failure> {
    let (source, bytes) = if a.file == "-" {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes).map_err(|e| format!("cannot read standard input: {e}"))?;
        ("<stdin>".to_owned(), bytes)
    } else {
        let bytes = std::fs::read(&a.file).map_err(|e| format!("cannot read {}: {e}", a.file))?;
        (a.file.clone(), bytes)
    };
    let read = |path: &str| std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"));
    let found = match locate::documents(&bytes) {
        Ok(docs) if docs.is_empty() => {
            vec![Found { at: format!("{source}: $"), config: Err("the file is empty".into()), vm_env: None }]
        }
        Ok(docs) => locate::find(&source, &docs, &read),
        Err(why) => vec![Found { at: format!("{source}: $"), config: Err(why), vm_env: None }],
    };
    let results: Vec<Checked> = found.iter().map(|f| check(f, a.no_env)).collect();
    let valid = results.iter().all(|r| r.problems.is_empty());
    match a.output {
        Output::Json => {
            let doc = json!({
                "file": source,
                "valid": valid,
                "configurations": results.iter().map(Checked::json).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        Output::Text => {
            for r in &results {
                if r.problems.is_empty() {
                    println!("{}: ok ({} routes, {} issuers)", r.at, r.routes, r.issuers);
                } else {
                    println!("{}: invalid configuration ({} problems):", r.at, r.problems.len());
                    for (path, message) in &r.problems {
                        println!("  {path}: {message}");
                    }
                }
            }
        }
    }
    if valid {
        Ok(())
    } else {
        // Everything is on standard output already; the status says it.
        Err(Failure::Failed(String::new()))
    }
}

struct Checked {
    at: String,
    routes: usize,
    issuers: usize,
    problems: Vec<(String, String)>,
}

impl Checked {
    fn json(&self) -> Value {
        let problems: Vec<Value> =
            self.problems.iter().map(|(path, message)| json!({"path": path, "message": message})).collect();
        if problems.is_empty() {
            json!({"at": self.at, "valid": true, "routes": self.routes, "issuers": self.issuers})
        } else {
            json!({"at": self.at, "valid": false, "problems": problems})
        }
    }
}

fn check(found: &Found, no_env: bool) -> Checked {
    let at = found.at.clone();
    let bytes = match &found.config {
        Ok(bytes) => bytes,
        Err(why) => return Checked { at, routes: 0, issuers: 0, problems: vec![("$".into(), why.clone())] },
    };
    // With --no-env, every variable the VM gets and the configuration names has a stand-in of the shape its
    // field needs; the VM's inline values are used as they are either way.
    let stand_ins = serde_json::from_slice(bytes).map(|doc| placeholders::for_config(&doc)).unwrap_or_default();
    let env = |name: &str| -> Option<String> {
        let given = match &found.vm_env {
            None => true,
            Some(vm) => {
                if let Some(value) = vm.inline.get(name) {
                    return Some(value.clone());
                }
                vm.from_host.iter().any(|n| n == name)
            }
        };
        match (given, no_env) {
            (false, _) => None,
            (true, true) => Some(stand_ins.get(name).cloned().unwrap_or_else(|| "x".repeat(64))),
            (true, false) => std::env::var(name).ok(),
        }
    };
    match gatehouse::load_config(bytes, &env) {
        Ok(cfg) => Checked { at, routes: cfg.routes.len(), issuers: cfg.issuers.len(), problems: Vec::new() },
        Err(errors) => Checked {
            at,
            routes: 0,
            issuers: 0,
            problems: errors.iter().map(|e| (e.path.clone(), e.message.clone())).collect(),
        },
    }
}
