//! The commit `gatehouse --version` prints: GATEHOUSE_GIT_COMMIT when the build sets it (scripts/build.sh),
//! else the checkout's HEAD, else "unknown" (a source tarball).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=GATEHOUSE_GIT_COMMIT");
    // A new commit or checkout moves HEAD's reflog; that is when the answer can change.
    println!("cargo:rerun-if-changed=../../.git/logs/HEAD");
    println!("cargo:rerun-if-changed=../../.git/HEAD");
    let commit = std::env::var("GATEHOUSE_GIT_COMMIT").ok().filter(|c| !c.is_empty()).or_else(|| {
        let out = Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output().ok()?;
        let text = String::from_utf8(out.stdout).ok()?;
        out.status.success().then(|| text.trim().to_owned())
    });
    println!("cargo:rustc-env=GATEHOUSE_CLI_COMMIT={}", commit.unwrap_or_else(|| "unknown".into()));
}
